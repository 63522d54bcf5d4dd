#!/usr/bin/env python3
# A test's `figure` lines (lib.sh) as its JSON figures file.
#   write_figures.py FIGURES_LINES OUT_JSON FAILURES
import json, sys
src, dst, failures = sys.argv[1:]
out = {}
for line in open(src):
    k, v = line.rstrip("\n").split(" ", 1)
    out[k] = json.loads(v)
out["failures"] = int(failures)
json.dump(out, open(dst, "w"), indent=1, sort_keys=True)

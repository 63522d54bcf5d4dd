#!/usr/bin/env python3
"""merge_figures.py DIR OUT: the reliability tests' DIR/NAME.json files as one
JSON object {NAME: figures} in OUT (tools/test reliability --json)."""
import glob
import json
import os
import sys

figures, out = sys.argv[1:]
merged = {os.path.basename(p)[:-5]: json.load(open(p)) for p in sorted(glob.glob(os.path.join(figures, "*.json")))}
with open(out, "w") as f:
    json.dump(merged, f, indent=1, sort_keys=True)

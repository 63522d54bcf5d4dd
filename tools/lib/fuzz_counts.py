#!/usr/bin/env python3
"""Prints "targets failed" of a tools/fuzz --json file: a target failed if it
crashed or ran no input."""
import json
import sys

targets = json.load(open(sys.argv[1]))["targets"]
print(len(targets), sum(1 for t in targets.values() if t["crashes"] or not t["execs"]))

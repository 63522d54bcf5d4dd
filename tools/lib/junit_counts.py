#!/usr/bin/env python3
"""Prints "tests failures skipped" of a CTest JUnit file (tools/test)."""
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) + int(s.get("disabled", 0)) for s in suites)
print(tests, failed, skipped)

#!/usr/bin/env python3
# oci_hook_e2e.sh's OCI bundles: the annotations and script asked for, a
# /shared bind for the test to read results, and the hook at createRuntime
# and poststop.
import json, sys
path, hook, sock, annotations, script, rootfs, shared, timeout = sys.argv[1:]
c = json.load(open(path))
c["mounts"].append({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]})
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", script]
c["root"] = {"path": rootfs, "readonly": False}
# "k=v;k2=v2"
c["annotations"] = dict(a.split("=", 1) for a in annotations.split(";") if a)
h = {"path": hook, "args": ["warmblock-oci-hook", "--socket", sock, "--timeout", timeout]}
c["hooks"] = {"createRuntime": [dict(h, args=h["args"] + ["create"])],
              "poststop": [dict(h, args=h["args"] + ["poststop"])]}
json.dump(c, open(path, "w"))

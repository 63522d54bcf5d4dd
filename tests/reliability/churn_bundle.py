#!/usr/bin/env python3
# churn.sh's OCI bundle: busybox writes to its warmblock volume, which the
# hook gives at createRuntime and releases at poststop.
#   churn_bundle.py CONFIG_JSON HOOK SOCKET ROOTFS
import json, sys
path, hook, sock, rootfs = sys.argv[1:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo churn > /data/f && cat /data/f"]
c["root"] = {"path": rootfs, "readonly": False}
c["annotations"] = {"io.warmblock.volume/data": "path=/data,class=small"}
h = ["warmblock-oci-hook", "--socket", sock, "--timeout", "120"]
c["hooks"] = {"createRuntime": [{"path": hook, "args": h + ["create"]}],
              "poststop": [{"path": hook, "args": h + ["poststop"]}]}
json.dump(c, open(path, "w"))

#!/usr/bin/env python3
"""Cross-checks warmblockd's four views of its volumes while it runs:

  database   state_dir/warmblock.db, one row per volume (golden, warm, ready...)
  pool       the thin devices in the pool's metadata (thin_dump of a metadata
             snapshot, so the live pool is read consistently)
  dm         the live thin dm devices of the pool
  ublk       the ublk disks (/sys/block/ublkbN) and the ublk devices behind
             them (/sys/class/ublk-char/ublkcN: one from ADD_DEV until
             deleted, with or without a disk), with their owner marks

and prints one JSON object: the counts of each kind of disagreement and
"violations", their sum. Meant for a quiescent daemon (no create or delete
in flight): rows in "creating" or "deleting" are reported, not excused.

A ublk device belongs to this daemon when it carries the daemon's owner
mark; --census BIN (tests/reliability/ublk_census.cc) asks the kernel for
them. Without it every ublk device on the host counts as the daemon's (right
in the test VM, where one daemon runs at a time). An owned device that no
served row names is leaked: a daemon that died left it, and nothing will
ever serve or delete it.

usage: invariants.py [--census BIN] STATE_DIR [POOL_NAME]
"""
import glob
import json
import os
import re
import sqlite3
import subprocess
import sys


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def database(state_dir):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state_dir, "warmblock.db"), uri=True)
    rows = db.execute("SELECT id, name, state, thin_id, ublk_id FROM volumes").fetchall()
    return [dict(zip(("id", "name", "state", "thin_id", "ublk_id"), r)) for r in rows]


def pool_thin_ids(pool):
    # thin-pool table: start len thin-pool METADATA_DEV DATA_DEV ...
    table = run("dmsetup", "table", pool).split()
    major, minor = table[3].split(":")
    uevent = open("/sys/dev/block/%s:%s/uevent" % (major, minor)).read()
    metadata = "/dev/" + re.search(r"^DEVNAME=(\S+)$", uevent, re.M).group(1)
    run("dmsetup", "message", pool, "0", "reserve_metadata_snap")
    try:
        xml = run("thin_dump", "--metadata-snap", metadata)
    finally:
        run("dmsetup", "message", pool, "0", "release_metadata_snap")
    return {int(m) for m in re.findall(r'<device dev_id="(\d+)"', xml)}


def live_thins(pool):
    info = run("dmsetup", "info", "-c", "--noheadings", "-o", "major,minor", pool).strip()
    pool_dev = info.replace(" ", "")
    ids = {}
    for line in run("dmsetup", "table").splitlines():
        name, _, rest = line.partition(": ")
        f = rest.split()
        if len(f) >= 5 and f[2] == "thin" and f[3] == pool_dev:
            ids[int(f[4])] = name
    return ids


def ublk_ids():
    return {int(p.rsplit("ublkb", 1)[1]) for p in glob.glob("/sys/block/ublkb*")}


def ublk_char_ids():
    return {int(p.rsplit("ublkc", 1)[1]) for p in glob.glob("/sys/class/ublk-char/ublkc*")}


def owned_ublk_devices(census, state_dir):
    """id -> {"state", "server_pid"} of the ublk devices with this daemon's mark."""
    if census is None:
        return {i: {"state": "?", "server_pid": None} for i in ublk_char_ids()}
    return {d["id"]: d for d in json.loads(run(census, state_dir))}


def main():
    args = sys.argv[1:]
    census = None
    if args[:1] == ["--census"]:
        census, args = args[1], args[2:]
    state_dir = args[0]
    pool = args[1] if len(args) > 1 else "warmblock-pool"
    rows = database(state_dir)
    in_pool = pool_thin_ids(pool)
    active = live_thins(pool)
    disks = ublk_ids()
    owned = owned_ublk_devices(census, state_dir)
    owned_thins = {r["thin_id"] for r in rows}
    served = {r["ublk_id"] for r in rows if r["ublk_id"] >= 0}
    out = {
        "rows": len(rows),
        "pool_thins": len(in_pool),
        "live_dm_thins": len(active),
        "ublk_disks": len(disks),
        "ublk_char_devices": len(ublk_char_ids()),
        "owned_ublk_devices": len(owned),
        # Devices with this daemon's mark that no served row names (with
        # their state and recorded server, to tell why).
        "leaked_ublk_devices": sorted("%d:%s:pid=%s" % (i, d["state"], d["server_pid"])
                                      for i, d in owned.items() if i not in served),
        # Served rows whose device is not this daemon's, or is not live.
        "served_rows_not_owned_live": sorted(
            r["name"] or r["id"] for r in rows
            if r["ublk_id"] >= 0 and owned.get(r["ublk_id"], {}).get("state") not in ("live", "?")),
        # Thin devices in the pool metadata that no row owns: space leaked.
        "leaked_thin_ids": sorted(in_pool - owned_thins),
        # Rows whose thin device is not in the pool: a volume without data.
        "rows_without_thin": sorted(r["name"] or r["id"] for r in rows if r["thin_id"] not in in_pool),
        # Live dm devices of thins no row owns.
        "stray_dm_devices": sorted(active[i] for i in set(active) - owned_thins),
        # Rows that say they are served by a ublk disk that is not there, and
        # ublk disks no row claims.
        "rows_without_disk": sorted(r["name"] or r["id"] for r in rows if r["ublk_id"] >= 0 and r["ublk_id"] not in disks),
        "stray_ublk_disks": sorted(disks - served),
        # A served row's thin must be live in dm.
        "served_rows_not_active": sorted(
            r["name"] or r["id"] for r in rows if r["ublk_id"] >= 0 and r["thin_id"] not in active
        ),
        "unfinished_rows": sorted("%s:%s" % (r["name"] or r["id"], r["state"]) for r in rows
                                  if r["state"] in ("creating", "deleting", "lost")),
    }
    out["violations"] = sum(len(v) for v in out.values() if isinstance(v, list))
    json.dump(out, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# power_cut.sh's figures over every check: losses as the union of names
# (each check re-verifies all that was acknowledged), other counts from the
# last check.
import json, os, sys
w, done, asked, seed, secs, dst, failed, waits = sys.argv[1:]
checks = []
for k in range(1, int(done) + 1):
    try:
        checks.append(json.load(open(os.path.join(w, "check-%d.json" % k))))
    except (OSError, ValueError):
        pass
last = checks[-1] if checks else {}
union = lambda key: sorted({x for c in checks for x in c.get(key, [])})
out = {
    "power_cuts": len(checks),
    "power_cuts_asked": int(asked),
    "seed": int(seed),
    "run_time_s": int(secs),
    "vm_lock_waits": int(waits),  # boots that first waited for another VM: run_time_s includes that
    # thin_check prints no count: a check whose thin_check exits non-zero
    # counts as one (its report is in thin_check-K.txt).
    "thin_check_errors": sum(c.get("thin_check_errors", 1) for c in checks),
    "lost_acknowledged_volumes": len(union("lost_volume_names")),
    "lost_flushed_writes": len(union("lost_writes")),
    "daemon_start_failures": sum(0 if c.get("daemon_started") else 1 for c in checks),
    "resurrected_deleted_volumes": len(union("resurrected_names")),
    "wrong_size_volumes": max([c.get("wrong_size_volumes", 0) for c in checks] or [0]),
    "ext4_fsck_errors": sum(c.get("ext4_fsck_errors", 0) for c in checks),
    "acknowledged_volumes": last.get("acknowledged_volumes", 0),
    "acknowledged_deletions": last.get("acknowledged_deletions", 0),
    "flushed_writes_checked": last.get("flushed_writes_checked", 0),
    "in_flight_creates_at_cuts": last.get("in_flight_creates", 0),
    "repairs_after_cuts": sum(c.get("repairs", 0) for c in checks),
    # invariants.py (the daemon's four views cross-checked) after each repair;
    # reported, not required: -1 in a check means it could not run.
    "invariant_violations": sum(max(c.get("invariants", {}).get("violations", 0), 0) for c in checks),
    "invariant_checks_not_run": sum(1 for c in checks if c.get("invariants", {}).get("violations", 0) < 0),
    "daemon_ready_ms_max": max([c.get("daemon_ready_ms", -1) for c in checks] or [-1]),
    "lost_volume_names": union("lost_volume_names"),
    "lost_writes": union("lost_writes")[:50],
}
problems = []
if failed:
    problems.append(failed)
if out["power_cuts"] != out["power_cuts_asked"]:
    problems.append("%d of %d cuts made and checked" % (out["power_cuts"], out["power_cuts_asked"]))
for key in ("thin_check_errors", "lost_acknowledged_volumes", "lost_flushed_writes", "daemon_start_failures",
            "resurrected_deleted_volumes", "wrong_size_volumes"):
    if out[key] != 0:
        problems.append("%s = %d (must be 0)" % (key, out[key]))
if checks and (out["acknowledged_volumes"] == 0 or out["flushed_writes_checked"] == 0):
    problems.append("nothing acknowledged before the cuts: the check proved nothing")
out["failures"] = problems
with open(dst, "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
show = {k: v for k, v in out.items() if not isinstance(v, list) or v}
print("power_cut: figures (%s): %s" % (dst, json.dumps(show, sort_keys=True)))
for p in problems:
    print("power_cut: FAIL: " + p)
sys.exit(1 if problems else 0)

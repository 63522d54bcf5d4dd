#!/usr/bin/env python3
# Used by tools/demo: what the start-latency run showed, in words.
import json, sys
j = json.load(open(sys.argv[1]))
m = j["modes"]
names = [("none", "no volume"), ("warm", "warmblock (warm stock)"), ("cold", "warmblock (empty stock)"),
         ("naive_dm", "naive: dmsetup + mkfs + mount"), ("naive_loop", "naive: loop + mkfs + mount")]
print(f"{j['containers']} containers with a warm warmblock volume, {j['baseline_containers']} in each other mode,"
      f" {j['batch']} started at once, kernel {j['kernel']}; volumes are {j['volume_size']}:\n")
print(f"  {'mode':32} {'containers':>10} {'p50 ms':>8} {'p99 ms':>8} {'all, s':>8}")
for key, label in names:
    print(f"  {label:32} {m[key]['containers']:10} {m[key]['p50_ms']:8.1f} {m[key]['p99_ms']:8.1f} {m[key]['total_s']:8.1f}")
w = j["warm_stock"]
p = j["warm_pool"]
print(f"\n  a volume costs a container {j['warm_overhead_p50']:.2f}x the start time of none (p50; target <= 1.10)")
print(f"  the naive way is {j['naive_over_warm_p50']:.1f}x slower than warmblock's warm stock (p50; target >= 20),"
      f" the loop file {j['loop_over_warm_p50']:.1f}x")
print(f"  warm stock: {w['hits']} hits, {w['misses']} misses; pool data used {p['data_used_mib_before']:.0f} MiB"
      f" before, {p['data_used_mib_after']:.0f} MiB after (of {p['data_total_mib']:.0f} MiB),"
      f" {p['volumes_after']} volumes left: every ephemeral volume was released at poststop")
print(f"  the hook alone (starting, reading the state, nothing to mount) takes {j['hook_start']['p50_ms']:.0f} ms here;"
      f" it runs twice per container")

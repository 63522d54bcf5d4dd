#!/bin/sh
# Concurrency and churn: 32 clients create and delete
# volumes over the API (CYCLES in all, default 2000) while containers start
# through the OCI hook with crun. Afterwards the database, the pool's
# metadata, the live dm devices and the ublk disks agree (invariants.py),
# and the daemon's open files and memory are back to where they started.
# churn.sh WARMBLOCKD CLI HOOK
set -u
NAME=churn
WARMBLOCKD=$1 CLI=$2 HOOK=$3
TOOLS="crun busybox dmsetup thin_dump"
. "$(dirname "$0")/lib.sh"

clients=32
cycles=${CYCLES:-2000}
containers=${CONTAINERS:-24}
WARM=8 CLASS_SIZE=32M config
start_daemon
ready || exit 1

# Waits until the warm stock is full again and nothing is in flight, so that
# the daemon's fd and memory counts are compared at rest.
settle() {
	for _ in $(seq 600); do
		[ "$(api GET /v1/pool)" = 200 ] &&
			[ "$(json_get 'all(c["warm"] == c["target"] for c in j["classes"])' <"$D/body")" = True ] &&
			[ "$(invariants)" = 0 ] && return 0
		sleep 0.2
	done
	return 1
}
fds() { ls /proc/"$daemon"/fd | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' /proc/"$daemon"/status; }

# A first cycle of everything (create, delete, a container) so that lazily
# made things (threads, caches, the golden image's pages) count as the start.
wb volume create warmup --class small >/dev/null && wb volume rm warmup >/dev/null || fail "warm-up cycle"
settle || fail "the daemon did not settle after the warm-up"
fd0=$(fds)
rss0=$(rss_kib)
note "at rest before: $fd0 fds, $rss0 KiB RSS"

# Containers through the hook, one after the other, during the churn.
mkdir -p "$D/rootfs/bin" "$D/rootfs/proc" "$D/rootfs/dev" "$D/rootfs/sys" "$D/bundle"
cp "$(command -v busybox)" "$D/rootfs/bin/busybox"
for c in sh echo cat; do ln -s busybox "$D/rootfs/bin/$c"; done
(cd "$D/bundle" && crun spec >/dev/null 2>&1)
python3 "$(dirname "$0")/churn_bundle.py" "$D/bundle/config.json" "$HOOK" "$SOCK" "$D/rootfs"
(
	ok=0
	for i in $(seq "$containers"); do
		(cd "$D/bundle" && crun run "churn-$i") >"$D/container.out" 2>&1 && grep -q '^churn$' "$D/container.out" &&
			ok=$((ok + 1))
	done
	echo $ok >"$D/containers_ok"
) &
runner=$!

# The clients: each its own connection per request (as the CLI and the hook
# do), names unique per client and cycle. Every answer must be 201 then
# 204; anything else is counted with its first example.
start=$(date +%s)
python3 "$(dirname "$0")/churn_clients.py" "$SOCK" "$clients" "$cycles" >"$D/clients.json"
took=$(($(date +%s) - start))
wait $runner
cycles_done=$(json_get 'j["cycles"]' <"$D/clients.json")
failed=$(json_get 'j["failed"]' <"$D/clients.json")
figure cycles "$cycles_done"
figure clients $clients
figure churn_seconds $took
[ "$cycles_done" = "$cycles" ] && [ "$failed" = 0 ] && pass "$cycles_done create/delete cycles by $clients clients in ${took}s" ||
	fail "$cycles_done of $cycles cycles, $failed failed: $(json_get 'j["first_failures"]' <"$D/clients.json")"
started=$(cat "$D/containers_ok")
figure containers_started "$started"
[ "$started" = "$containers" ] && pass "$started containers started through the hook during the churn" ||
	fail "$started of $containers containers started; last: $(cat "$D/container.out")"

settle || fail "the daemon did not settle after the churn"
v=$(invariants)
require_zero invariant_violations "$v"
[ "$v" = 0 ] || cat "$D/invariants.json"
require_zero leftover_volumes "$(volume_count)"
fd1=$(fds)
rss1=$(rss_kib)
note "at rest after: $fd1 fds, $rss1 KiB RSS"
require_zero fd_growth $((fd1 - fd0))
[ "$fd1" = "$fd0" ] || ls -l /proc/"$daemon"/fd
figure rss_growth_kib $((rss1 - rss0))
# Memory is not required to come back to the byte (the allocator keeps
# freed pages), but a leak per cycle would show: 2,000 cycles leaking even
# 4 KiB each is 8 MiB.
[ $((rss1 - rss0)) -lt 8192 ] && pass "RSS grew by $((rss1 - rss0)) KiB over $cycles_done cycles" ||
	fail "RSS grew by $((rss1 - rss0)) KiB over $cycles_done cycles: a leak?"

echo "$NAME: $failures failure(s)"
[ "$failures" = 0 ]

#!/bin/sh
# End to end (CTest label e2e, in the VM): warmblockd, warmblock-oci-hook and
# the real crun and runc from Debian with a busybox root filesystem.
# oci_hook_e2e.sh WARMBLOCKD WARMBLOCK_CLI HOOK
# Exits 77 (skipped) without ublk/device-mapper, unless
# WARMBLOCK_REQUIRE_KERNEL=1, where that is a failure.
set -u
WARMBLOCKD=$1 CLI=$2 HOOK=$3
missing=""
[ "$(id -u)" = 0 ] || missing="root"
[ -w /dev/ublk-control ] || missing="$missing /dev/ublk-control"
[ -w /dev/mapper/control ] || missing="$missing /dev/mapper/control"
for tool in crun runc busybox curl python3; do command -v $tool >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
	echo "missing:$missing"
	[ "${WARMBLOCK_REQUIRE_KERNEL:-0}" = 1 ] && exit 1
	exit 77
fi

D=${WARMBLOCK_SCRATCH:-/tmp}/wb-e2e-$$
SOCK=$D/api.sock
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
cleanup() {
	[ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	"$WARMBLOCKD" --config "$D/wb.toml" --teardown >/dev/null 2>&1
	rm -rf "$D"
}
trap cleanup EXIT
mkdir -p "$D/rootfs/bin" "$D/rootfs/proc" "$D/rootfs/dev" "$D/rootfs/sys"
cp "$(command -v busybox)" "$D/rootfs/bin/busybox"
for c in sh echo cat ls df test touch wc sleep tail hostname; do ln -s busybox "$D/rootfs/bin/$c"; done
cat >"$D/wb.toml" <<EOT
state_dir = "$D/state"
socket = "$SOCK"
reactors = 2
[pool]
data_size = "2G"
[[class]]
name = "small"
size = "64M"
warm = 2
EOT

start_daemon() {
	"$WARMBLOCKD" --config "$D/wb.toml" 2>>"$D/wb.log" &
	daemon=$!
	for _ in $(seq 600); do
		curl -sf --unix-socket "$SOCK" http://x/healthz >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "warmblockd did not start:"; cat "$D/wb.log"; exit 1
}

# bundle NAME "KEY=VALUE;..." SCRIPT: a bundle whose container runs SCRIPT
# with those annotations and the host's $D/shared at /shared
bundle() {
	b=$D/bundles/$1
	mkdir -p "$b" "$D/shared"
	(cd "$b" && crun spec >/dev/null 2>&1)
	python3 "$(dirname "$0")/oci_bundle.py" "$b/config.json" "$HOOK" "$SOCK" "$2" "$3" "$D/rootfs" "$D/shared" "${HOOK_TIMEOUT:-10}"
	echo "$b"
}

# run RUNTIME NAME ANNOTATION SCRIPT: runs a container; its output in $D/out
run() {
	b=$(bundle "$2" "$3" "$4")
	(cd "$b" && "$1" run "$2") >"$D/out" 2>&1
}

volumes() { "$CLI" --socket "$SOCK" --json volume ls | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["volumes"]))'; }
data_used() { "$CLI" --socket "$SOCK" --json pool status | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_used_bytes"])'; }

start_daemon
used0=$(data_used)

for rt in crun runc; do
	if run $rt "eph-$rt" "io.warmblock.volume/data=path=/data,class=small" \
		'dd if=/dev/zero of=/data/blob bs=1M count=16 2>/dev/null && echo written > /data/hello && cat /data/hello && df /data'; then
		grep -q written "$D/out" && grep -q /dev/ublkb "$D/out" && pass "$rt: the container wrote to its own ublk volume" ||
			fail "$rt: no write seen: $(cat "$D/out")"
	else
		fail "$rt run failed: $(cat "$D/out")"
	fi
	[ "$(volumes)" = 0 ] && pass "$rt: the ephemeral volume is gone after poststop" || fail "$rt: volumes left: $(volumes)"
done
used1=$(data_used)
[ "$used1" -le $((used0 + 8 * 1048576)) ] && pass "pool space came back ($used0 -> $used1 bytes used)" ||
	fail "pool space not returned: $used0 -> $used1 bytes used"

run crun named1 "io.warmblock.volume/db=path=/var/db,class=small,name=pgdata" \
	'dd if=/dev/zero of=/var/db/blob bs=1M count=16 2>/dev/null && sync && echo kept > /var/db/file' ||
	fail "named volume, first container: $(cat "$D/out")"
run runc named2 "io.warmblock.volume/db=path=/var/db,class=small,name=pgdata" 'cat /var/db/file' &&
	grep -q kept "$D/out" && pass "a named volume keeps its data for the next container" ||
	fail "named volume lost its data: $(cat "$D/out")"
[ "$(volumes)" = 1 ] && pass "the named volume stays after poststop" || fail "named volume count: $(volumes)"
# The same 16 MiB write, kept this time, shows in the pool: so the
# ephemeral volumes' space above really came back. Removing it returns it.
used2=$(data_used)
[ "$used2" -ge $((used1 + 12 * 1048576)) ] && pass "a kept volume's data uses pool space ($used1 -> $used2)" ||
	fail "the kept write did not show in the pool: $used1 -> $used2"
"$CLI" --socket "$SOCK" volume rm pgdata >/dev/null || fail "volume rm pgdata"
used3=$(data_used)
[ "$used3" -le $((used1 + 8 * 1048576)) ] && pass "removing it returns the space ($used2 -> $used3)" ||
	fail "space not returned after rm: $used2 -> $used3"

# 50 containers at once, all running together (each waits at a barrier in
# /shared until every one has written its mark): each sees only its own
# mark on its /data, and the disks behind them are 50 distinct ones.
n=50
rm -rf "$D/shared"/* "$D/many"
mkdir -p "$D/many"
# One bundle, copied with its own hostname, which is the mark.
b=$(HOOK_TIMEOUT=300 bundle many "io.warmblock.volume/data=path=/data,class=small" \
	"hostname > /data/mark && touch /shared/\$(hostname) && w=0; while [ \$(ls /shared | wc -l) -lt $n ] && [ \$w -lt 300 ]; do sleep 1; w=\$((w+1)); done; echo mark=\$(cat /data/mark) && df /data | tail -n 1")
for i in $(seq $n); do
	mkdir -p "$b-$i"
	sed "s/\"hostname\": *\"[^\"]*\"/\"hostname\": \"many-$i\"/" "$b/config.json" >"$b-$i/config.json"
done
start=$(date +%s)
runs=""
for i in $(seq $n); do
	# Bounded, so that a hang shows below with what hung instead of
	# running into CTest's timeout, which kills this script uncleaned.
	(cd "$b-$i" && timeout -k 10 420 crun run "many-$i" >"$D/many/$i" 2>&1; echo "exit=$?" >>"$D/many/$i") &
	runs="$runs $!"
done
wait $runs # not the daemon, also a background job
took=$(($(date +%s) - start))
ok=0
for i in $(seq $n); do grep -q "^mark=many-$i\$" "$D/many/$i" && grep -q "^exit=0" "$D/many/$i" && ok=$((ok + 1)); done
distinct=$(cat "$D/many"/* | grep -o '^/dev/ublkb[0-9]*' | sort -u | wc -l)
[ "$ok" = $n ] && [ "$distinct" = $n ] &&
	pass "$n containers started together (${took}s), each with its own volume: $distinct distinct disks" ||
	{
		fail "$n concurrent containers: $ok saw only their own mark, $distinct distinct disks; first: $(cat "$D/many/1")"
		for i in $(seq $n); do grep -q "^exit=0" "$D/many/$i" || echo "many-$i: $(tr '\n' ' ' <"$D/many/$i")"; done
		echo "processes in D state:"; ps -eo pid,stat,wchan:32,args | awk '$2 ~ /^D/'
		echo "kernel log:"; dmesg | tail -n 40
		echo "warmblockd log:"; tail -n 40 "$D/wb.log"
		for i in $(seq $n); do crun delete -f "many-$i" >/dev/null 2>&1; done
	}
[ "$(volumes)" = 0 ] && pass "their ephemeral volumes are all gone after poststop" || fail "volumes left: $(volumes)"

# A container killed without its runtime running poststop (as after a hook
# timeout or a runtime crash): warmblockd releases the volume itself once
# the container's init is gone.
rm -f "$D/shared"/*
b=$(bundle reaped "io.warmblock.volume/data=path=/data,class=small" 'touch /shared/up; sleep 600')
if (cd "$b" && crun run -d reaped) >"$D/out" 2>&1; then
	for _ in $(seq 100); do [ -e "$D/shared/up" ] && break; sleep 0.1; done
	[ "$(volumes)" = 1 ] || fail "the detached container has no volume: $(volumes)"
	pid=$(crun state reaped | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
	kill -9 "$pid"
	start=$(date +%s)
	for _ in $(seq 100); do [ "$(volumes)" = 0 ] && break; sleep 0.2; done
	[ "$(volumes)" = 0 ] && pass "a killed container's volume is released without poststop ($(($(date +%s) - start))s)" ||
		fail "a killed container's volume was not released: $(volumes) left"
	grep -q "released ephemeral volume" "$D/wb.log" || fail "no release logged"
else
	fail "detached run failed: $(cat "$D/out")"
fi
(cd "$b" && crun delete -f reaped >/dev/null 2>&1)

# crun sends hooks' stderr to the file its run.oci.hooks.stderr annotation
# names (else nowhere); runc puts it in its own error.
for rt in crun runc; do
	rm -f "$D/hook.err"
	if run $rt "bad-$rt" "io.warmblock.volume/x=path=/proc,class=small;run.oci.hooks.stderr=$D/hook.err" 'true'; then
		fail "$rt: a container with a bad annotation started"
	else
		cat "$D/hook.err" >>"$D/out" 2>/dev/null
		grep -q "warmblock-oci-hook: annotation io.warmblock.volume/x" "$D/out" &&
			pass "$rt: a bad annotation stops the start with the hook's message" || fail "$rt: no hook message: $(cat "$D/out")"
	fi
	(cd "$D/bundles/bad-$rt" && $rt delete -f "bad-$rt" >/dev/null 2>&1)
done

kill "$daemon"; wait "$daemon" 2>/dev/null; daemon=""
for rt in crun runc; do
	rm -f "$D/hook.err"
	start=$(date +%s)
	if run $rt "down-$rt" "io.warmblock.volume/data=path=/data,class=small;run.oci.hooks.stderr=$D/hook.err" 'true'; then
		fail "$rt: a container started with warmblockd down"
	else
		took=$(($(date +%s) - start))
		cat "$D/hook.err" >>"$D/out" 2>/dev/null
		grep -q "cannot connect to warmblockd" "$D/out" && [ "$took" -lt 10 ] &&
			pass "$rt: warmblockd down: the start fails in ${took}s with a clear message" ||
			fail "$rt: daemon down: ${took}s, $(cat "$D/out")"
	fi
	(cd "$D/bundles/down-$rt" && $rt delete -f "down-$rt" >/dev/null 2>&1)
done

echo "e2e: $failures failure(s)"
[ "$failures" = 0 ]

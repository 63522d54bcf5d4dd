#!/bin/sh
# Daemon crash under load: 16 volumes under fio random
# writes with crc32c verification while warmblockd is killed with SIGKILL at
# random moments and restarted at once, as systemd would. The disks must
# stay (ublk user recovery: the kernel holds their I/O until the new daemon
# takes them over), fio must see no I/O error and verify every block, and
# afterwards no volume is lost and no thin device is leaked.
# crash_under_load.sh WARMBLOCKD CLI HOOK   (KILLS, default 20)
set -u
NAME=crash_under_load
WARMBLOCKD=$1 CLI=$2
TOOLS="fio dmsetup thin_dump"
. "$(dirname "$0")/lib.sh"

volumes=16
kills=${KILLS:-20}
WARM=2 config
start_daemon
# Earlier tests in this boot may have logged errors of their own disks.
kernel_errors0=$(dmesg | grep -c 'I/O error, dev ublkb')

devices=""
for i in $(seq $volumes); do
	dev=$(wb --json volume create "load-$i" --class small | json_get 'j["device"]') || { fail "create load-$i"; exit 1; }
	devices="$devices $dev"
done
pass "$volumes volumes: $devices"

# One fio round: every disk written at random (4 KiB, each block once, with
# a crc32c header), then read back and verified. Rounds repeat until every
# kill is done, so kills land in both phases.
fio_round() {
	set -- --ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=4 --size=8M \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=json --output="$D/fio-$1.json"
	for dev in $devices; do set -- "$@" --name="$(basename "$dev")" --filename="$dev"; done
	fio "$@" >"$D/fio-$1.out" 2>&1
}

round=1
fio_round $round &
fio_pid=$!
done_kills=0
disk_gone=0
down_ms_max=0
exit_ms_max=0
start_ms_max=0
while [ $done_kills -lt "$kills" ]; do
	# 0.2 to 1.7 s between kills: some land mid-burst, some mid-verify.
	sleep "$(awk "BEGIN { srand($$ + $done_kills); printf \"%.2f\", 0.2 + rand() * 1.5 }")"
	if ! kill -0 $fio_pid 2>/dev/null; then
		wait $fio_pid || fail "fio round $round exited non-zero (see below)"
		round=$((round + 1))
		fio_round $round &
		fio_pid=$!
		continue
	fi
	t0=$(date +%s%N)
	stop_daemon KILL
	# The killed process is reaped (its exit, io_uring teardown included)
	# before the new one starts: the two parts of a restart apart.
	t1=$(date +%s%N)
	for dev in $devices; do [ -b "$dev" ] || disk_gone=$((disk_gone + 1)); done
	start_daemon
	ready || break
	t2=$(date +%s%N)
	ms=$(((t2 - t0) / 1000000))
	[ $ms -gt $down_ms_max ] && down_ms_max=$ms
	[ $(((t1 - t0) / 1000000)) -gt $exit_ms_max ] && exit_ms_max=$(((t1 - t0) / 1000000))
	[ $(((t2 - t1) / 1000000)) -gt $start_ms_max ] && start_ms_max=$(((t2 - t1) / 1000000))
	done_kills=$((done_kills + 1))
done
wait $fio_pid || fail "fio round $round exited non-zero"
pass "$done_kills kills in $round fio round(s); longest restart ${down_ms_max} ms"
figure daemon_kills $done_kills
figure fio_rounds $round
figure restart_ms_max $down_ms_max
figure killed_exit_ms_max $exit_ms_max
figure start_to_ready_ms_max $start_ms_max
figure failed_adoptions "$(grep -c 'could not adopt ublk device' "$D/wb.log")"
figure busy_adoptions "$(grep 'could not adopt ublk device' "$D/wb.log" | grep -c 'busy')"
require_zero disks_gone_while_down $disk_gone

# fio's own count of failed I/O (error, per job) and its verify failures;
# the kernel's log counts I/O errors on the disks that fio may not have
# seen (a failed readahead, say).
fio_errors=0
verify_failures=0
for r in $(seq $round); do
	e=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sum(1 for x in j["jobs"] if x["error"]))' \
		"$D/fio-$r.json" 2>/dev/null || echo 1)
	fio_errors=$((fio_errors + e))
	v=$(grep -ci "verify.*fail\|bad magic\|bad header" "$D/fio-$r.out")
	verify_failures=$((verify_failures + v))
	[ "$e" = 0 ] && [ "$v" = 0 ] || { echo "--- fio round $r"; tail -n 20 "$D/fio-$r.out"; }
done
kernel_errors=$(($(dmesg | grep -c 'I/O error, dev ublkb') - kernel_errors0))
require_zero io_errors $((fio_errors + kernel_errors))
require_zero verify_failures "$verify_failures"

now=$(wb --json volume ls | json_get '" ".join(sorted(v["device"] for v in j["volumes"] if v["name"].startswith("load-")))')
before=$(echo $devices | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
lost=$(python3 -c 'import sys; print(len(set(sys.argv[1].split()) - set(sys.argv[2].split())))' "$before" "$now")
require_zero lost_volumes "$lost"

v=$(invariants)
leaked=$(json_get 'len(j["leaked_thin_ids"]) + len(j["rows_without_thin"])' <"$D/invariants.json")
require_zero leaked_thin_ids "$leaked"
require_zero leaked_ublk_devices "$(json_get 'len(j["leaked_ublk_devices"])' <"$D/invariants.json")"
require_zero invariant_violations "$v"
[ "$v" = 0 ] || cat "$D/invariants.json"

[ -n "${WARMBLOCK_FIGURES_DIR:-}" ] && mkdir -p "$WARMBLOCK_FIGURES_DIR" && cp "$D/wb.log" "$WARMBLOCK_FIGURES_DIR/$NAME.log"
echo "$NAME: $failures failure(s)"
[ "$failures" = 0 ]

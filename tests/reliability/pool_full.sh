#!/bin/sh
# Pool exhaustion: an embedded pool of 128M that may grow
# to 256M in steps of 64M. Volumes are written through their ublk disks
# until the pool grows (low-water event), then on to its limit, where every
# further write must fail fast with ENOSPC (or EIO) instead of hanging,
# creates get 507 with a message that says what to do, and `pool status`
# and /metrics say full. Deleting the volumes brings the pool back without a
# restart: creates and writes succeed again.
# pool_full.sh WARMBLOCKD CLI HOOK
set -u
NAME=pool_full
WARMBLOCKD=$1 CLI=$2 HOOK=$3
. "$(dirname "$0")/lib.sh"

POOL=128M LIMIT=256M STEP=64M
volumes=10 # of 32M: more than the limit holds
# lib.sh's config() has no place for [pool] keys beyond data_size.
cat >"$D/wb.toml" <<EOF
state_dir = "$D/state"
socket = "$SOCK"
reactors = 2
[pool]
data_size = "$POOL"
max_data_size = "$LIMIT"
grow_step = "$STEP"
[[class]]
name = "small"
size = "32M"
warm = 2
EOF
start_daemon
ready || exit 1

pool_json() { wb --json pool status >"$D/pool.json" && json_get "$1" <"$D/pool.json"; }
mib() { echo $(($1 / 1048576)); }

# pool_full_writer.py DEVICE... : writes 1 MiB blocks with O_DIRECT, device after
# device, until the first error, then `after` more writes at fresh offsets
# (each needs a new pool block); prints what happened as JSON. In-process:
# a dd per MiB would cost a fork and exec each in the VM.

size0=$(pool_json 'j["data_total_bytes"]')
limit=$(pool_json 'j["data_limit_bytes"]')
note "pool $(mib "$size0") MiB, may grow to $(mib "$limit") MiB"
[ "$limit" -gt "$size0" ] || fail "pool status shows no room to grow ($size0 of $limit)"

devices=""
for i in $(seq $volumes); do
	dev=$(wb --json volume create "fill-$i" --class small | json_get 'j["device"]') || {
		fail "create fill-$i"
		continue
	}
	devices="$devices $dev"
done

start=$(date +%s)
# shellcheck disable=SC2086 # one argument per device
python3 "$(dirname "$0")/pool_full_writer.py" $devices >"$D/writes.json" || fail "writer crashed"
note "writes: $(cat "$D/writes.json") in $(($(date +%s) - start)) s"
w() { json_get "$1" <"$D/writes.json"; }

# Growth: the low-water events grew the pool, up to its limit and no further.
grow_events=$(pool_json 'j["grow_events"]')
size1=$(pool_json 'j["data_total_bytes"]')
figure grow_events "$grow_events"
figure pool_mib_before "$(mib "$size0")"
figure pool_mib_after "$(mib "$size1")"
[ "$grow_events" -ge 1 ] && pass "the pool grew $grow_events time(s)" || fail "the pool never grew"
[ "$size1" -gt "$size0" ] && pass "pool status: $(mib "$size0") -> $(mib "$size1") MiB" ||
	fail "pool status still shows $(mib "$size1") MiB"
[ "$size1" = "$limit" ] && pass "grown to its limit, not beyond" || fail "pool is $size1 bytes, limit $limit"
grep -q "grew the pool: data 128M -> 192M" "$D/wb.log" && pass "growth logged with old and new size" ||
	fail "no growth line in the log"
grep -E "grew the pool|can grow|cannot grow" "$D/wb.log" | sed 's/^/   log: /'

# At the limit, writers fail fast.
failed=$(w 'j["failed"]')
p99=$(w 'j["p99_ms"]')
figure enospc_writes "$failed"
figure enospc_ms_p50 "$(w 'j["p50_ms"]')"
figure enospc_ms_p99 "$p99"
figure enospc_ms_max "$(w 'j["max_ms"]')"
figure written_mib "$(w 'j["ok_mib"]')"
[ "$failed" -gt 0 ] && pass "writes beyond the limit failed: $(w 'j["errnos"]')" ||
	fail "no write failed beyond the limit"
[ "$(python3 -c "print($p99 <= 5000)")" = True ] && pass "failing writes took ${p99} ms (p99)" ||
	fail "failing writes took ${p99} ms (p99): writers wait instead of failing"

# The API, the CLI and the metrics say full.
code=$(api POST /v1/volumes '{"name":"one-more","class":"small"}')
figure create_when_full "$code"
reason=$(json_get 'j["error"]' <"$D/body")
note "create: $code $reason"
[ "$code" = 507 ] && [ "$(json_get 'j["code"]' <"$D/body")" = no_space ] && pass "create answers 507 no_space" ||
	fail "create answered $code: $(cat "$D/body")"
case "$reason" in
*"at its limit"*max_data_size*"delete volumes"*) pass "the message names the limit and what to do" ;;
*) fail "unclear message: $reason" ;;
esac
wb volume create one-more --class small >/dev/null 2>&1
[ $? = 5 ] && pass "the CLI exits 5 (pool full)" || fail "the CLI did not exit 5"
[ "$(pool_json 'j["full"]')" = True ] && pass "pool status --json: full" || fail "pool status --json: not full"
wb pool status >"$D/status.txt"
grep -q '^state *FULL' "$D/status.txt" && pass "pool status: $(grep '^state' "$D/status.txt" | cut -c1-60)..." ||
	fail "pool status does not say full: $(cat "$D/status.txt")"
curl -s --unix-socket "$SOCK" http://x/metrics >"$D/metrics"
grep -q '^warmblock_pool_full 1$' "$D/metrics" && grep -q "^warmblock_pool_grow_events_total $grow_events\$" "$D/metrics" &&
	grep -q "^warmblock_pool_data_bytes{kind=\"limit\"} $limit\$" "$D/metrics" &&
	pass "metrics: full, $grow_events grow events, limit" || fail "metrics: $(grep pool "$D/metrics")"

# Deleting the volumes brings it back, without a restart.
for i in $(seq $volumes); do wb volume rm "fill-$i" >/dev/null || fail "delete fill-$i"; done
recovered=false
for _ in $(seq 300); do
	[ "$(pool_json 'j["full"]')" = False ] && break
	sleep 0.1
done
if [ "$(pool_json 'j["full"]')" = False ]; then
	dev=$(wb --json volume create after --class small | json_get 'j["device"]')
	if [ -n "$dev" ] && AFTER=0 python3 "$(dirname "$0")/pool_full_writer.py" "$dev" >"$D/after.json" &&
		[ "$(json_get 'j["failed"]' <"$D/after.json")" = 0 ]; then
		recovered=true
	else
		fail "after the deletes: create or write failed: $dev $(cat "$D/after.json" 2>/dev/null)"
	fi
else
	fail "the pool is still full after the deletes: $(cat "$D/pool.json")"
fi
figure recovered_after_delete "$recovered"
[ "$recovered" = true ] && pass "recovered after the deletes: a create and a 32 MiB write succeed"
curl -s --unix-socket "$SOCK" http://x/metrics >"$D/metrics"
grep -q '^warmblock_pool_full 0$' "$D/metrics" && pass "metrics: no longer full" || fail "metrics still say full"
kill -0 "$daemon" 2>/dev/null && pass "the daemon was never restarted" || fail "the daemon died"

[ "$failures" = 0 ]

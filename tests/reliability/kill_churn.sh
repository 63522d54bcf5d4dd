#!/bin/sh
# SIGKILL during churn: 8 API clients create and
# delete volumes while warmblockd is SIGKILLed KILLS times (default 10) at
# random moments and restarted at once, as systemd would. After every
# restart, once nothing is in flight and the warm stock is back, the ublk
# devices carrying the daemon's owner mark must be exactly the disks its
# database serves (invariants.py: leaked_ublk_devices); after `warmblockd
# --teardown` none of them may remain.
# kill_churn.sh WARMBLOCKD CLI HOOK CENSUS   (KILLS, default 10)
set -u
NAME=kill_churn
WARMBLOCKD=$1 CLI=$2
TOOLS="dmsetup thin_dump"
. "$(dirname "$0")/lib.sh"
[ -n "$CENSUS" ] || { fail "no ublk_census (the fourth argument)"; exit 1; }

clients=8
kills=${KILLS:-10}
WARM=4 CLASS_SIZE=32M config
start_daemon
ready || exit 1

# churn SECONDS: the clients create and delete for that long; a refused or
# failed request (the daemon is down or starting) is counted and retried
# with the next name.
churn() {
	python3 "$(dirname "$0")/kill_churn_clients.py" "$SOCK" $clients "$1" "$2" >>"$D/clients.log" 2>&1
}

# Until the warm stock is full again (the refill may still be working).
warm_again() {
	for _ in $(seq 300); do
		[ "$(api GET /v1/pool)" = 200 ] &&
			[ "$(json_get 'all(c["warm"] == c["target"] for c in j["classes"])' <"$D/body")" = True ] && return 0
		sleep 0.2
	done
	return 1
}

leaked=0
violations=0
restart_ms_max=0
exit_ms_max=0
restart_ms_sum=0
done_kills=0
while [ $done_kills -lt "$kills" ]; do
	churn 4 $done_kills &
	clients_pid=$!
	# 0.5 to 3.5 s into the churn: creates, deletes and refills in flight.
	sleep "$(awk "BEGIN { srand($$ + $done_kills); printf \"%.2f\", 0.5 + rand() * 3 }")"
	t0=$(date +%s%N)
	stop_daemon KILL
	t1=$(date +%s%N)
	start_daemon
	ready || break
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ $(((t1 - t0) / 1000000)) -gt $exit_ms_max ] && exit_ms_max=$(((t1 - t0) / 1000000))
	[ $ms -gt $restart_ms_max ] && restart_ms_max=$ms
	restart_ms_sum=$((restart_ms_sum + ms))
	done_kills=$((done_kills + 1))
	wait $clients_pid
	warm_again || fail "kill $done_kills: the warm stock did not come back"
	v=$(invariants)
	l=$(json_get 'len(j["leaked_ublk_devices"])' <"$D/invariants.json")
	violations=$((violations + v))
	leaked=$((leaked + l))
	note "kill $done_kills: ready after $ms ms; $(json_get '"%d rows, %d ublk disks, %d devices of ours, leaked %s" % (j["rows"], j["ublk_disks"], j["owned_ublk_devices"], j["leaked_ublk_devices"])' <"$D/invariants.json")"
	[ "$v" = 0 ] || cat "$D/invariants.json"
done
figure daemon_kills $done_kills
figure clients $clients
figure restart_ms_max $restart_ms_max
figure killed_exit_ms_max $exit_ms_max
figure restart_ms_mean $((restart_ms_sum / (done_kills > 0 ? done_kills : 1)))
# Rows whose disk could not be adopted (a new one was started), and of
# those the ones that first waited out the kernel's EBUSY.
figure failed_adoptions "$(grep -c 'could not adopt ublk device' "$D/wb.log")"
figure busy_adoptions "$(grep 'could not adopt ublk device' "$D/wb.log" | grep -c 'busy')"
figure client_cycles "$(python3 -c 'import json,sys; print(sum(json.loads(l)["cycles"] for l in open(sys.argv[1]) if l.startswith("{")))' "$D/clients.log")"
[ $done_kills = "$kills" ] && pass "$done_kills kills during churn; longest restart $restart_ms_max ms" ||
	fail "only $done_kills of $kills kills done"
require_zero leaked_ublk_devices $leaked
require_zero invariant_violations $violations

# --teardown stops every disk of this daemon; no device of its owner may
# stay behind (served, abandoned or never started).
stop_daemon TERM
"$WARMBLOCKD" --config "$D/wb.toml" --teardown 2>>"$D/wb.log" || fail "warmblockd --teardown failed"
left=$(owned_ublk)
[ -z "$left" ] || note "left after --teardown: $left"
require_zero ublk_devices_after_teardown "$(echo $left | wc -w)"

[ -n "${WARMBLOCK_FIGURES_DIR:-}" ] && mkdir -p "$WARMBLOCK_FIGURES_DIR" && cp "$D/wb.log" "$WARMBLOCK_FIGURES_DIR/$NAME.log"
echo "$NAME: $failures failure(s)"
[ "$failures" = 0 ]

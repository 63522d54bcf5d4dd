#!/bin/sh
# Guest half of the power-cut test; the host half,
# power_cut.sh, boots the VM with this script and kills QEMU under it.
#
# power_cut_guest.sh work  DIR BOOT WARMBLOCKD CLI SEED [format]
# power_cut_guest.sh check DIR BOOT WARMBLOCKD CLI
#
# DIR is shared with the host (tools/vm/run --rw); /dev/vda is the disk
# image that holds the daemon's whole state_dir (pool data and metadata
# files, catalogue, database), as in the default set-up.
#
# work:  (mkfs.ext4 /dev/vda first with "format"), start warmblockd, then
#        create, delete and write volumes until the host pulls the plug.
#        Every acknowledged step is appended to DIR/acks.log with one
#        write + fsync over 9p: the record is in the host's file before the
#        next step starts, so the log survives the cut and never claims more
#        than the daemon acknowledged.
# check: thin_check the pool's metadata (before anything activates the
#        pool), start warmblockd (it repairs), verify acks.log against what
#        is there, and write DIR/check-BOOT.json. Exits non-zero only when a
#        step could not run; findings are figures, judged by the host.
set -u
mode=$1 W=$2 boot=$3 WARMBLOCKD=$4 CLI=$5
MNT=/mnt/wb
STATE=$MNT/state
SOCK=/run/wb.sock
ACKS=$W/acks.log
# The daemon's log. A 9p --rw file keeps plain writes in the guest's page
# cache until fsync or close (the daemon does neither), so in a boot that
# ends in a cut the log goes to this script's stderr, which tools/vm/run
# streams to the host as it is written.
LOG=$W/wb-$boot.log
[ "$mode" = work ] && LOG=/dev/stderr
# The workload and the verifier, beside this script.
PY=$(dirname "$0")/power_cut_guest.py
daemon=""

die() {
	echo "power_cut_guest ($mode, boot $boot): $*" >&2
	exit 1
}

for tool in curl python3 mkfs.ext4 e2fsck thin_check thin_dump dmsetup; do
	command -v $tool >/dev/null || die "$tool not found in the guest"
done

write_config() {
	cat >/tmp/wb.toml <<EOT
state_dir = "$STATE"
socket = "$SOCK"
reactors = 2
[pool]
data_size = "2G"
[[class]]
name = "small"
size = "64M"
warm = 2
EOT
}

# Starts warmblockd and waits until the API serves volumes (after the
# start-up repair); sets ready_ms. Not to be called in $(...): the daemon
# would hold the substitution's pipe open.
ready_ms=-1
start_daemon() {
	t0=$(date +%s%N)
	echo "--- boot $boot ($mode) $(date -u +%FT%TZ)" >>"$LOG"
	"$WARMBLOCKD" --config /tmp/wb.toml >>"$LOG" 2>&1 </dev/null &
	daemon=$!
	# TCG is slow: the first start makes the pool and the golden image.
	for _ in $(seq 1200); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://x/v1/volumes 2>/dev/null)
		if [ "$code" = 200 ]; then
			ready_ms=$((($(date +%s%N) - t0) / 1000000))
			return 0
		fi
		kill -0 "$daemon" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop_daemon() {
	[ -n "$daemon" ] || return 0
	kill -TERM "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	daemon=""
}

mkdir -p "$MNT"
write_config

case "$mode" in
work)
	if [ "${7:-}" = format ]; then
		# nodiscard: the image is sparse already; discarding 4G in TCG is slow.
		# No lazy init: the kernel would zero the inode tables in the
		# background of the first boots and slow them for no reason of ours.
		mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 /dev/vda ||
			die "mkfs.ext4 /dev/vda failed"
	fi
	seed=${6:?seed}
	mount -t ext4 /dev/vda "$MNT" || die "cannot mount /dev/vda"
	start_daemon || die "warmblockd did not start (its log is above)"
	echo "warmblockd ready in ${ready_ms} ms"
	# The host waits for the "start" record, then pulls the plug.
	python3 "$PY" work "$ACKS" "$boot" "$CLI" "$SOCK" "$seed"
	stop_daemon
	exit 3 # the workload must never end on its own
	;;
check)
	# The file system under the state first: mounting replays its journal,
	# then a read-only fsck of the result.
	mount -t ext4 /dev/vda "$MNT" || die "cannot mount /dev/vda after the cut"
	umount "$MNT" || die "cannot unmount /dev/vda"
	e2fsck -fn /dev/vda >"$W/e2fsck-$boot.txt" 2>&1
	fsck_rc=$?
	ext4_errors=0
	[ $fsck_rc = 0 ] || ext4_errors=1
	mount -t ext4 /dev/vda "$MNT" || die "cannot mount /dev/vda again"

	# No pool is active in a fresh boot: the metadata file is quiescent.
	meta=$STATE/pool/metadata.img
	[ -f "$meta" ] || die "no pool metadata at $meta"
	thin_check "$meta" >"$W/thin_check-$boot.txt" 2>&1
	tc_rc=$?
	thin_errors=0
	[ $tc_rc = 0 ] || thin_errors=1
	echo "thin_check: exit $tc_rc; e2fsck -fn: exit $fsck_rc"

	started=true
	start_daemon || {
		started=false
		tail -n 30 "$LOG" >&2
	}
	ms=$ready_ms
	repairs=0 invariants='{}' warm_ok=false
	if [ "$started" = true ]; then
		echo "warmblockd ready in ${ms} ms after the cut"
		repairs=$(curl -s --unix-socket "$SOCK" http://x/v1/daemon | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["repairs"]))')
		# The invariants want a quiescent daemon: wait for the warm stock.
		for _ in $(seq 600); do
			curl -s --unix-socket "$SOCK" http://x/v1/pool |
				python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(any(c["warm"] < c["target"] for c in j["classes"]))' &&
				{ warm_ok=true; break; }
			sleep 0.2
		done
		pool=$(dmsetup ls --target thin-pool | awk 'NR==1 {print $1}')
		# Its stderr stays apart: what it prints on stdout must be JSON.
		invariants=$(python3 "$(dirname "$0")/invariants.py" "$STATE" "$pool") || invariants='{"violations": -1}'
	fi
	extra=$(python3 -c 'import json,sys; print(json.dumps({"boot": int(sys.argv[1]), "thin_check_errors": int(sys.argv[2]),
		"thin_check_exit": int(sys.argv[3]), "ext4_fsck_errors": int(sys.argv[4]), "daemon_started": sys.argv[5] == "true",
		"daemon_ready_ms": int(sys.argv[6]), "repairs": int(sys.argv[7] or 0), "warm_stock_refilled": sys.argv[8] == "true",
		"invariants": json.loads(sys.argv[9])}))' \
		"$boot" "$thin_errors" "$tc_rc" "$ext4_errors" "$started" "$ms" "$repairs" "$warm_ok" "$invariants") ||
		die "cannot assemble the figures"
	if [ "$started" = true ]; then
		python3 "$PY" check "$ACKS" "$CLI" "$SOCK" "$W/check-$boot.json" "$extra" || die "verification did not run"
	else
		# Still report what ran: the host fails on daemon_started=false.
		echo "$extra" >"$W/check-$boot.json"
	fi
	stop_daemon
	# A clean stop, so that the next boot starts from a settled disk plus
	# only the damage of its own cut.
	"$WARMBLOCKD" --config /tmp/wb.toml --teardown >>"$LOG" 2>&1 || echo "note: warmblockd --teardown failed (see $LOG)"
	sync
	umount "$MNT" || echo "note: cannot unmount $MNT"
	[ "$started" = true ] || die "warmblockd did not start after the cut (log: $LOG)"
	exit 0
	;;
*) die "unknown mode '$mode' (work or check)" ;;
esac

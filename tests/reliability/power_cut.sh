#!/usr/bin/env bash
# Power cut, run on the host: the daemon's whole state_dir
# (the embedded pool's data and metadata files, catalogue, database) lives
# on a virtio disk image; QEMU is killed hard while volumes are created,
# deleted and written; the next boot checks that thin_check finds the pool
# metadata clean, that warmblockd repairs and starts, that every volume
# acknowledged before the cut exists, and that every write acknowledged by
# fsync reads back. The guest side is power_cut_guest.sh.
#
# power_cut.sh BUILD_DIR FIGURES_JSON [--cuts N] [--seed S]
#
# Figures (FIGURES_JSON): power_cuts, thin_check_errors, lost_acknowledged_volumes,
# lost_flushed_writes (the required zeros, with daemon_start_failures,
# resurrected_deleted_volumes and wrong_size_volumes), and counts of what was
# checked. Exits 1 when a required zero is not zero, when fewer cuts than
# asked were made and checked, or when nothing acknowledged was there to check.
#
# What a cut loses, and why no stricter disk cache mode is used: the driver
# SIGKILLs QEMU at a random moment of the workload (not tools/vm/run's
# --timeout, whose SIGTERM lets QEMU stop the vCPUs and drain in-flight
# requests before exiting: a gentler cut). The guest's page cache and every
# request still inside QEMU are lost; a request QEMU's worker thread is
# writing may land in part (page granular), as on a disk that is only
# sector-atomic. What QEMU already completed to the guest was pwrite()n to
# the image before the completion (raw format, no cache in QEMU), so it is
# in the host's page cache, and that survives, because the host does not
# crash. tools/vm/run attaches disks with cache=unsafe, which drops the
# guest's flushes: that would lose data only in a host crash. cache=none
# (O_DIRECT) or directsync (plus O_DSYNC) would make the host side durable
# against a host power loss, which this test does not simulate; for a QEMU
# kill they keep exactly what cache=unsafe keeps, so tools/vm/run is used
# unchanged. What this test does catch: anything that reached only the
# guest's page cache, or a flush the stack (ublk server -> dm-thin metadata
# commit -> loop -> ext4 -> virtio) failed to pass down before fsync
# returned -- the latter only for writes in about the last second before a
# cut, since dm-thin's periodic metadata commit (which flushes the loop file
# and so commits ext4's journal) makes older writes durable anyway.
#
# Negative control: WARMBLOCK_POWER_CUT_NO_FSYNC=1 makes the workload record
# writes it never fsync'ed (see power_cut_guest.sh); a run must then fail
# with lost_flushed_writes > 0.
set -u

usage() {
	echo "usage: $0 BUILD_DIR FIGURES_JSON [--cuts N] [--seed S]" >&2
	exit 2
}
[ $# -ge 2 ] || usage
BUILD=$(cd "$1" 2>/dev/null && pwd) || {
	echo "power_cut: no build directory $1" >&2
	exit 2
}
FIGURES=$2
shift 2
cuts=3
seed=$((RANDOM * 32768 + RANDOM))
while [ $# -gt 0 ]; do
	case "$1" in
	--cuts) [ $# -ge 2 ] || usage; cuts=$2; shift ;;
	--seed) [ $# -ge 2 ] || usage; seed=$2; shift ;;
	*) usage ;;
	esac
	shift
done
[[ "$cuts" =~ ^[1-9][0-9]*$ ]] || { echo "power_cut: --cuts wants a positive number, not '$cuts'" >&2; exit 2; }
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "power_cut: --seed wants a number, not '$seed'" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
GUEST=$here/power_cut_guest.sh
WARMBLOCKD=$BUILD/provisioner/warmblockd
CLI=$BUILD/tools/warmblock
for f in "$WARMBLOCKD" "$CLI"; do
	[ -x "$f" ] || { echo "power_cut: $f not built (ninja -C $BUILD warmblockd warmblock)" >&2; exit 2; }
done
[ -f "$GUEST" ] || { echo "power_cut: $GUEST missing" >&2; exit 2; }

# The scratch directory is under BUILD_DIR, not /tmp: the disk image and the
# acknowledgement log must outlive each VM, and /tmp is the guest's own tmpfs.
W=$BUILD/power-cut
IMG=$W/disk.img
ACKS=$W/acks.log
rm -rf "$W"
mkdir -p "$W" || { echo "power_cut: cannot create $W" >&2; exit 1; }
truncate -s 4G "$IMG" || { echo "power_cut: cannot create $IMG" >&2; exit 1; }
: >"$ACKS"
# The guest runs its script from the shared scratch directory: a checkout
# under /tmp (as CI's may be) is hidden by the guest's own /tmp.
cp "$GUEST" "$here/power_cut_guest.py" "$here/invariants.py" "$W/" || { echo "power_cut: cannot copy the guest scripts to $W" >&2; exit 1; }
GUEST=$W/power_cut_guest.sh
# One vCPU thread: immune to the multi-threaded TCG code-patching oops, which
# would end a boot for reasons that are not the test's.
export WARMBLOCK_VM_TCG_THREAD=single
t_start=$(date +%s)
echo "power_cut: $cuts cut(s), seed $seed, scratch $W"

# Always called in a subshell, which it replaces: a background `vm &` gives
# tools/vm/run's own pid in $!. The whole build directory is shared (not
# only the scratch inside it): the binaries must be visible even when the
# checkout is under /tmp, which the guest hides behind its own.
vm() {
	cd "$BUILD" && exec "$root/tools/vm/run" --disk "$IMG" --rw "$BUILD" "$@"
}

descendants() {
	local p
	for p in $(pgrep -P "$1"); do
		echo "$p"
		descendants "$p"
	done
}

# The QEMU under our own tools/vm/run (found by walking down from its pid,
# so no other VM on the machine is touched).
qemu_of() {
	local p
	for p in $(descendants "$1"); do
		case "$(cat "/proc/$p/comm" 2>/dev/null)" in qemu*) echo "$p"; return 0 ;; esac
	done
	return 1
}

starts() { grep -c '^start ' "$ACKS"; }

# Interrupted, stop our VM (tools/vm/run stops its QEMU on TERM) rather than
# leave it running to its backstop timeout.
run_pid=""
# shellcheck disable=SC2317 # called from the trap
on_signal() {
	[ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null
	exit 130
}
trap on_signal INT TERM HUP

failed=""
done_cuts=0
for k in $(seq "$cuts"); do
	fmt=""
	[ "$k" = 1 ] && fmt=format
	before=$(starts)
	out=$W/vm-work-$k.out
	# --timeout is only a backstop (the workload stops itself after 300 s).
	vm --timeout 900 -- sh "$GUEST" work "$W" "$k" "$WARMBLOCKD" "$CLI" "$((seed + k))" $fmt >"$out" 2>&1 &
	run_pid=$!
	while [ "$(starts)" = "$before" ] && kill -0 "$run_pid" 2>/dev/null; do sleep 0.2; done
	if [ "$(starts)" = "$before" ]; then
		wait "$run_pid"
		echo "power_cut: cut $k: the workload never started (vm exit $?); its output:"
		sed 's/^/  | /' "$out"
		failed="the workload of cut $k never started"
		break
	fi
	# The cut comes 1 to 15 s after the workload's first record, whatever
	# the boot took (or how long another VM held tools/vm/run's lock).
	delay=$(awk -v s="$seed" -v k="$k" 'BEGIN { srand(s + 1000 * k); printf "%.1f", 1 + rand() * 14 }')
	sleep "$delay"
	qpid=$(qemu_of "$run_pid") || {
		wait "$run_pid"
		echo "power_cut: cut $k: no QEMU left to kill $delay s into the workload (vm exit $?); its output:"
		sed 's/^/  | /' "$out"
		failed="cut $k: the VM ended before the cut"
		break
	}
	kill -KILL "$qpid"
	wait "$run_pid"
	rc=$?
	run_pid=""
	acked=$(grep -c '^created ' "$ACKS") writes=$(grep -c '^write ' "$ACKS") dels=$(grep -c '^deleted ' "$ACKS")
	echo "power_cut: cut $k: QEMU killed $delay s into the workload (vm exit $rc); log so far: $acked created, $dels deleted, $writes flushed writes"
	# What was going on at the cut. (run's "timed out" note, console tail and
	# bash's "Killed" line are this kill, not a hang.)
	grep -vE '^vm: (timed out|  )|Killed +timeout' "$out" | tail -n 12 | sed 's/^/  | /'
	if [ "$rc" != 124 ]; then
		failed="cut $k: tools/vm/run exited $rc, not 124 (killed)"
		break
	fi

	rm -f "$W/check-$k.json"
	out=$W/vm-check-$k.out
	(vm --timeout 900 -- sh "$GUEST" check "$W" "$k" "$WARMBLOCKD" "$CLI") >"$out" 2>&1
	rc=$?
	sed 's/^/  | /' "$out"
	if [ ! -s "$W/check-$k.json" ]; then
		failed="the check boot after cut $k did not run (vm exit $rc)"
		break
	fi
	done_cuts=$k
	[ "$rc" = 0 ] || { failed="the check boot after cut $k failed (vm exit $rc)"; break; }
done

# One figure set over all checks. The log is cumulative, so each check
# re-verifies everything acknowledged so far: losses are counted once each
# (the union of names), the other counts are taken from the last check.
waits=$(cat "$W"/vm-*.out 2>/dev/null | grep -c 'waiting for another VM')
python3 "$here/power_cut_figures.py" "$W" "$done_cuts" "$cuts" "$seed" "$(($(date +%s) - t_start))" "$FIGURES" "$failed" "$waits"
rc=$?
[ $rc = 0 ] && echo "power_cut: ok ($done_cuts cuts, $(($(date +%s) - t_start)) s; disk image and logs kept in $W)" ||
	echo "power_cut: failed; the disk image, acks.log, daemon logs (wb-*.log) and VM outputs are in $W"
exit $rc

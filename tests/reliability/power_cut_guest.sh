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
PY=/tmp/power_cut.py
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

# The Python halves: the workload and the verifier, one file, in-process
# loops (a fork+exec from the 9p root costs ~40 ms in the VM).
cat >"$PY" <<'PY'
import hashlib, json, mmap, os, random, subprocess, sys, threading, time

SLOT = 64 << 10          # bytes per write, 4 KiB aligned
FIRST = 4 << 20          # leave the volume's first MiBs (its ext4 superblock) alone


def parse_log(path):
    """The acknowledged history. A last line without its newline is a record
    whose write did not return before the cut: not acknowledged, ignored."""
    h = {"created": {}, "creating": set(), "deleting": set(), "deleted": set(),
         "delete_failed": set(), "writes": [], "boots": 0}
    try:
        data = open(path, "rb").read().decode()
    except FileNotFoundError:
        return h
    for line in data.split("\n")[:-1]:
        f = line.split()
        if not f:
            continue
        if f[0] == "start":
            h["boots"] += 1
        elif f[0] == "creating":
            h["creating"].add(f[1])
        elif f[0] == "created":
            h["created"][f[1]] = int(f[2])
        elif f[0] == "deleting":
            h["deleting"].add(f[1])
        elif f[0] == "deleted":
            h["deleted"].add(f[1])
        elif f[0] == "delete-failed":
            h["delete_failed"].add(f[1])
        elif f[0] == "write":
            h["writes"].append((f[1], int(f[2]), int(f[3]), f[4]))
    return h


def cli(args, binary, sock):
    p = subprocess.run([binary, "--socket", sock, "--json"] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr.strip()


def volumes(binary, sock):
    rc, out, err = cli(["volume", "ls"], binary, sock)
    if rc != 0:
        raise SystemExit("power_cut_guest: volume ls failed (%d): %s" % (rc, err))
    return {v["name"]: v for v in json.loads(out)["volumes"]}


def aligned(n):
    return mmap.mmap(-1, n)  # page aligned, as O_DIRECT wants


def work(log_path, boot, binary, sock, seed):
    rng = random.Random(seed)
    hist = parse_log(log_path)
    now = volumes(binary, sock)
    mu = threading.Lock()
    live = {}      # name -> [device, size]; acknowledged, not being deleted
    busy = {}      # name -> writers using it (never deleted meanwhile)
    used = {}      # name -> set of slots written (acknowledged or not, this boot)
    for name in hist["created"]:
        v = now.get(name)
        if name not in hist["deleting"] and v and v["state"] == "ready":
            live[name] = [v["device"], v["size_bytes"]]
    for name, off, _, _ in hist["writes"]:
        used.setdefault(name, set()).add(off)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(*fields):
        # One write() per record, then fsync: on 9p the write is the host's
        # pwrite, so the record is in the host file once this returns.
        line = (" ".join(str(x) for x in fields) + "\n").encode()
        with mu:
            if os.write(fd, line) != len(line):
                raise SystemExit("power_cut_guest: short write to " + log_path)
            os.fsync(fd)

    # Negative control: WARMBLOCK_POWER_CUT_NO_FSYNC=1 records buffered
    # writes without fsync, and keeps the disks open (the last close of a
    # block device writes its dirty pages back), so a cut must show
    # lost_flushed_writes > 0: the check does see a loss when there is one.
    no_fsync = os.environ.get("WARMBLOCK_POWER_CUT_NO_FSYNC") == "1"
    kept_open = []
    deadline = time.time() + 300
    record("start", boot, int(time.time()))
    print("workload: boot %d, %d live volumes from earlier boots%s" % (
        boot, len(live), " (negative control: writes not fsync'ed)" if no_fsync else ""), flush=True)

    def metadata_loop():
        n = 0
        r = random.Random(seed * 7 + 1)
        while time.time() < deadline:
            with mu:
                idle = [k for k in live if not busy.get(k)]
            if len(live) > 3 and idle and r.random() < 0.2 and not no_fsync:  # the control keeps disks open
                name = r.choice(idle)
                with mu:
                    if busy.get(name):
                        continue
                    del live[name]
                record("deleting", name)
                rc, _, err = cli(["volume", "rm", name], binary, sock)
                record("deleted" if rc == 0 else "delete-failed", name, *([] if rc == 0 else [rc]))
                if rc != 0:
                    print("workload: rm %s: %s" % (name, err), flush=True)
                continue
            n += 1
            name = "pc%d-%d" % (boot, n)
            # Class volumes come from the warm stock (a row claimed) or are
            # made cold; 96M ones are grown from a warm 64M one where the
            # kernel can resize a disk, else made cold.
            args = ["--class", "small"] if r.random() < 0.7 else ["--size", "96M"]
            record("creating", name)
            rc, out, err = cli(["volume", "create", name] + args, binary, sock)
            if rc != 0:
                record("create-failed", name, rc)
                print("workload: create %s: %s" % (name, err), flush=True)
                continue
            v = json.loads(out)
            record("created", name, v["size_bytes"], v["device"])
            with mu:
                live[name] = [v["device"], v["size_bytes"]]

    def write_loop(k):
        r = random.Random(seed * 7 + 2 + k)
        buf = aligned(SLOT)
        while time.time() < deadline:
            with mu:
                if not live:
                    pick = None
                else:
                    pick = r.choice(sorted(live))
                    dev, size = live[pick]
                    slots = (size - FIRST) // SLOT
                    taken = used.setdefault(pick, set())
                    free = [FIRST + i * SLOT for i in range(slots) if FIRST + i * SLOT not in taken]
                    if not free:
                        pick = None
                    else:
                        off = r.choice(free)
                        taken.add(off)
                        busy[pick] = busy.get(pick, 0) + 1
            if pick is None:
                time.sleep(0.2)
                continue
            try:
                data = r.randbytes(SLOT)
                direct = r.random() < 0.5 and not no_fsync
                try:
                    wfd = os.open(dev, os.O_WRONLY | (os.O_DIRECT if direct else 0))
                    try:
                        buf.seek(0)
                        buf.write(data)
                        if os.pwritev(wfd, [buf], off) != SLOT:
                            raise OSError("short write")
                        if not no_fsync:
                            os.fsync(wfd)
                    finally:
                        if no_fsync:
                            kept_open.append(wfd)
                        else:
                            os.close(wfd)
                except OSError as e:
                    record("write-failed", pick, off, SLOT)
                    print("workload: write %s@%d: %s" % (pick, off, e), flush=True)
                    continue
                record("write", pick, off, SLOT, hashlib.sha256(data).hexdigest()[:32],
                       "direct" if direct else "buffered" if not no_fsync else "unflushed")
            finally:
                with mu:
                    busy[pick] -= 1

    threads = [threading.Thread(target=metadata_loop)] + [threading.Thread(target=write_loop, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Reaching this means the cut never came: the host treats it as a failure.
    print("workload: deadline reached without a power cut", flush=True)


def check(log_path, binary, sock, out_path, extra):
    hist = parse_log(log_path)
    now = volumes(binary, sock)
    acked = set(hist["created"])
    uncertain = hist["deleting"]          # deletion asked: may or may not be gone
    lost = sorted(n for n in acked - uncertain if n not in now or now[n]["state"] != "ready")
    resurrected = sorted(n for n in hist["deleted"] if n in now)
    in_flight = hist["creating"] - acked
    # Sizes must match what the daemon acknowledged.
    wrong_size = sorted(n for n in acked - uncertain
                        if n in now and now[n]["size_bytes"] != hist["created"][n])
    lost_writes, checked = [], 0
    for name, off, length, digest in hist["writes"]:
        if name in uncertain:
            continue
        checked += 1
        v = now.get(name)
        if not v or v["state"] != "ready":
            lost_writes.append("%s@%d:volume-gone" % (name, off))
            continue
        buf = aligned(length)
        try:
            rfd = os.open(v["device"], os.O_RDONLY | os.O_DIRECT)
            try:
                n = os.preadv(rfd, [buf], off)
            finally:
                os.close(rfd)
        except OSError as e:
            lost_writes.append("%s@%d:%s" % (name, off, e.strerror))
            continue
        if n != length or hashlib.sha256(buf[:length]).hexdigest()[:32] != digest:
            lost_writes.append("%s@%d:mismatch" % (name, off))
    fig = dict(extra)
    fig.update({
        "acknowledged_volumes": len(acked),
        "acknowledged_deletions": len(hist["deleted"]),
        "lost_acknowledged_volumes": len(lost),
        "lost_volume_names": lost,
        "resurrected_deleted_volumes": len(resurrected),
        "resurrected_names": resurrected,
        "wrong_size_volumes": len(wrong_size),
        "in_flight_creates": len(in_flight),
        "in_flight_creates_present": len([n for n in in_flight if n in now]),
        "in_flight_deletes": len(uncertain - hist["deleted"] - hist["delete_failed"]),
        "flushed_writes_checked": checked,
        "lost_flushed_writes": len(lost_writes),
        "lost_writes": lost_writes,
        "volumes_now": len(now),
        "lost_state_volumes": sorted(n for n, v in now.items() if v["state"] != "ready"),
    })
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(fig, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, out_path)
    print("check: %d acknowledged volumes (%d lost), %d flushed writes checked (%d lost), "
          "%d acknowledged deletions (%d back)" % (len(acked), len(lost), checked, len(lost_writes),
                                                  len(hist["deleted"]), len(resurrected)), flush=True)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "work":
        work(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], json.loads(sys.argv[6]))
PY

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

#!/usr/bin/env python3
# The Python halves of power_cut_guest.sh: the workload and the verifier,
# one file, in-process loops (a fork+exec from the 9p root costs ~40 ms in
# the VM).
#
#   power_cut_guest.py work ACKS BOOT CLI SOCK SEED
#   power_cut_guest.py check ACKS CLI SOCK OUT EXTRA_JSON
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

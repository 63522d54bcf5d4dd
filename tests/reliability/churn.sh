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
python3 - "$D/bundle/config.json" "$HOOK" "$SOCK" "$D/rootfs" <<'PY'
import json, sys
path, hook, sock, rootfs = sys.argv[1:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo churn > /data/f && cat /data/f"]
c["root"] = {"path": rootfs, "readonly": False}
c["annotations"] = {"io.warmblock.volume/data": "path=/data,class=small"}
h = ["warmblock-oci-hook", "--socket", sock, "--timeout", "120"]
c["hooks"] = {"createRuntime": [{"path": hook, "args": h + ["create"]}],
              "poststop": [{"path": hook, "args": h + ["poststop"]}]}
json.dump(c, open(path, "w"))
PY
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
python3 - "$SOCK" "$clients" "$cycles" >"$D/clients.json" <<'PY'
import http.client, json, socket, sys, threading

sock, clients, cycles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sock)

def call(method, path, body=None):
    c = Conn("x", timeout=120)
    c.request(method, path, body=json.dumps(body) if body else None,
              headers={"Content-Type": "application/json"} if body else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data

lock = threading.Lock()
done, bad = [0], []

def client(k):
    for n in range(k, cycles, clients):
        name = "churn-%d-%d" % (k, n)
        results = [call("POST", "/v1/volumes", {"name": name, "class": "small"})]
        results.append(call("DELETE", "/v1/volumes/" + name))
        with lock:
            if [s for s, _ in results] == [201, 204]:
                done[0] += 1
            else:
                bad.append("%s: %s" % (name, results))

threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"cycles": done[0], "failed": len(bad), "first_failures": bad[:3]}))
PY
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

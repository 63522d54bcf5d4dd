#!/usr/bin/env python3
# kill_churn.sh's API clients: create and delete for SECONDS while the
# daemon is killed and restarted; a refused or failed request counts as
# failed and the client goes on with the next name.
#   kill_churn_clients.py SOCKET CLIENTS SECONDS ROUND
import json, sys, threading, time

from unix_http import call as request

sock, clients, seconds, round_ = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + seconds

def call(method, path, body=None):
    try:
        return request(sock, method, path, body, timeout=60)[0]
    except OSError:
        return 0

lock = threading.Lock()
count = {"cycles": 0, "failed": 0}

def client(k):
    n = 0
    while time.monotonic() < deadline:
        name = "kc-%s-%d-%d" % (round_, k, n)
        n += 1
        ok = call("POST", "/v1/volumes", {"name": name, "class": "small"}) == 201 and \
            call("DELETE", "/v1/volumes/" + name) == 204
        with lock:
            count["cycles" if ok else "failed"] += 1
        if not ok:
            time.sleep(0.05)

threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(count))

#!/usr/bin/env python3
# churn.sh's API clients: each creates and deletes volumes of its own names
# while containers come and go; every answer must be 201 then 204. Prints
# the counts and the first bad answer as JSON.
#   churn_clients.py SOCKET CLIENTS CYCLES
import json, sys, threading

from unix_http import call as request

sock, clients, cycles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def call(method, path, body=None):
    return request(sock, method, path, body, timeout=120)

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

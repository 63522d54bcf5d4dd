# warmblockd's API over its Unix socket for the reliability tests' Python
# clients: one connection per request, as the CLI and the hook make.
import http.client
import json
import socket


class _Conn(http.client.HTTPConnection):
    def __init__(self, sock, timeout):
        super().__init__("x", timeout=timeout)
        self._path = sock

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def call(sock, method, path, body=None, timeout=60):
    """(status, body bytes) of one request; OSError when it did not get through."""
    c = _Conn(sock, timeout)
    try:
        c.request(method, path, body=json.dumps(body) if body else None,
                  headers={"Content-Type": "application/json"} if body else {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()

"""A fast loopback webhook receiver, run in its own process:

    python -m bench.receiver --port 9001          # prints "ready" once listening

gevent and hand-rolled HTTP/1.1 (keep-alive, Content-Length bodies only), so that the receiver
is never what a benchmark measures. Paths starting `/hole` are a black hole: the request is read
and never answered (the connection is held until the sender gives up, at most HOLE_SECONDS).
Every other path answers `200` at once. Each webhook request is recorded as (arrival time from
time.time(), path, X-CS-Event, entityuuid of the JSON body); control paths, answered as JSON:
`/_stats` (counts), `/_records?since=N` (records from index N on), `/_reset`.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after monkey-patching, as gevent requires
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

HOLE_SECONDS = 120.0
MAX_RECORDS = 3_000_000  # bounded memory whatever a run sends
MAX_HEADER_LINES = 100
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
_ENTITY = re.compile(rb'"entityuuid":"([^"]{1,64})"')

records: list[tuple[float, str, str, str]] = []
counts: Counter[str] = Counter()
dropped = 0


def _control(path: str) -> bytes:
    global dropped
    if path.startswith("/_stats"):
        body: Any = {"count": sum(counts.values()), "by_path": dict(counts), "dropped": dropped}
    elif path.startswith("/_records"):
        since = int(path.partition("since=")[2] or 0)
        body = records[since:]
    elif path.startswith("/_reset"):
        records.clear()
        counts.clear()
        dropped = 0
        body = {"reset": True}
    else:
        body = {"error": "unknown control path"}
    data = json.dumps(body).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(data)).encode() + b"\r\n\r\n" + data)


def _record(path: str, headers: dict[bytes, bytes], body: bytes) -> None:
    global dropped
    now = time.time()
    counts[path] += 1
    if len(records) >= MAX_RECORDS:
        dropped += 1
        return
    m = _ENTITY.search(body)
    records.append((now, path, headers.get(b"x-cs-event", b"").decode("latin-1"),
                    m.group(1).decode("latin-1") if m else ""))


def handle(sock: Any, _addr: Any) -> None:
    rfile = sock.makefile("rb")
    try:
        while True:
            line = rfile.readline(65537)
            if not line:
                return
            headers: dict[bytes, bytes] = {}
            for _ in range(MAX_HEADER_LINES):
                h = rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0") or 0)
            body = rfile.read(length) if length else b""
            parts = line.split(b" ")
            path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
            if path.startswith("/_"):
                sock.sendall(_control(path))
                continue
            _record(path, headers, body)
            if path.startswith("/hole"):
                # Never answer; the sender's timeout closes the connection (recv returns b"").
                with gevent.Timeout(HOLE_SECONDS, False):
                    while sock.recv(65536):
                        pass
                return
            sock.sendall(_OK)
            if headers.get(b"connection", b"").lower() == b"close":
                return
    except OSError:
        return
    finally:
        rfile.close()
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = StreamServer(("127.0.0.1", args.port), handle, backlog=1024)
    server.start()
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

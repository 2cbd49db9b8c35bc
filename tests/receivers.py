"""Real webhook receivers on 127.0.0.1 for dispatcher tests: thread-based HTTP servers that
record every request and answer with scripted behaviours.

    rx = Receiver()                                   # 200 "Event with ID: <id> successfully
    rx.url                                            #      processed!" to everything
    Receiver(per_event=fail_then_ok(2))               # per event: 500, 500, then 200
    Receiver(default=sleep(3))                        # answers after 3 s
    Receiver(default=HANG)                            # reads the request, never answers
    Receiver(default=gated(gate))                     # answers once the test sets `gate`
    rx.wait_for(10, timeout=5)                        # until 10 requests arrived
    rx.close()

A behaviour is a function ``(handler, request) -> None`` that writes the answer (or misbehaves)
on the handler's connection. ``per_event(request, n)`` picks the behaviour for the n-th request
(1-based) carrying that request's X-CS-Event-ID; ``script`` lists behaviours for the 1st, 2nd,
... request overall; ``default`` answers the rest.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    index: int  # 1-based arrival order
    method: str
    path: str
    headers: list[tuple[str, str]]  # as received, in order
    body: bytes
    received: float  # time.monotonic() once the body was read
    received_wall: float  # time.time() at the same moment
    answered: float | None = None  # time.monotonic() once the answer was written

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def header_names(self) -> list[str]:
        return [k for k, _ in self.headers]

    @property
    def event_id(self) -> str | None:
        return self.header("X-CS-Event-ID")


Behaviour = Callable[["_Handler", Request], None]
PerEvent = Callable[[Request, int], Behaviour]


# --- behaviours -----------------------------------------------------------------------------

def processed_text(event_id: str | None) -> str:
    """CloudStack's smoke-test receiver answer (test_webhook_delivery.py)."""
    return f"Event with ID: {event_id} successfully processed!"


def reply(status: int = 200, body: bytes | str | None = None,
          headers: dict[str, str] | None = None,
          content_type: str = "text/html") -> Behaviour:
    """A complete answer; the default body is the smoke-test text for the request's event."""

    def run(h: _Handler, req: Request) -> None:
        data = processed_text(req.event_id) if body is None else body
        raw = data.encode() if isinstance(data, str) else data
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        if status not in (204, 304) and not 100 <= status < 200:
            h.send_header("Content-Length", str(len(raw)))
        else:
            raw = b""
        h.end_headers()
        h.wfile.write(raw)
        h.wfile.flush()

    return run


OK = reply()


def sleep(seconds: float, then: Behaviour = OK) -> Behaviour:
    """Answer after `seconds` (or as soon as the receiver closes)."""

    def run(h: _Handler, req: Request) -> None:
        if h.receiver.closing.wait(seconds):
            return
        then(h, req)

    return run


def gated(gate: threading.Event, then: Behaviour = OK) -> Behaviour:
    """Hold the request until the test sets `gate`, then answer with `then`."""

    def run(h: _Handler, req: Request) -> None:
        while not gate.wait(0.05):
            if h.receiver.closing.is_set():
                return
        then(h, req)

    return run


def _hang(h: _Handler, req: Request) -> None:
    h.receiver.closing.wait()


HANG: Behaviour = _hang
"""Read the request and never answer (until the receiver closes)."""


def _reset(h: _Handler, req: Request) -> None:
    # Promise 1000 bytes, send a few, then abort the connection with a TCP RST.
    h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
                  b"partial")
    h.wfile.flush()
    time.sleep(0.05)
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


RESET: Behaviour = _reset
"""Start a 200 answer, then reset the connection mid-body."""


def _close(h: _Handler, req: Request) -> None:
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


CLOSE: Behaviour = _close
"""Close the connection without writing any answer."""


def huge(size: int = 50 * 1024 * 1024, status: int = 200) -> Behaviour:
    """A `size`-byte body, streamed until the client stops reading."""

    def run(h: _Handler, req: Request) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(size))
        h.end_headers()
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < size:
                h.wfile.write(chunk[: size - sent])
                sent += min(len(chunk), size - sent)
        except OSError:
            pass  # the sender hung up after reading what it keeps
        finally:
            h.receiver.bytes_sent[req.index] = sent
            h.close_connection = True

    return run


def redirect(status: int = 301, location: str = "http://127.0.0.1:9/elsewhere") -> Behaviour:
    return reply(status, f"Moved to {location}", headers={"Location": location})


def fail_then_ok(failures: int, fail: Behaviour | None = None, then: Behaviour = OK
                 ) -> PerEvent:
    """For each event: `failures` failing answers (500 "fail <n>" by default), then `then`."""

    def pick(req: Request, n: int) -> Behaviour:
        if n <= failures:
            return fail or reply(500, f"fail {n}")
        return then

    return pick


# --- the server -------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    @property
    def receiver(self) -> Receiver:
        return self.server.receiver

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = self.receiver._record(self.command, self.path, list(self.headers.items()), body)
        behaviour = self.receiver._behaviour_for(req)
        try:
            behaviour(self, req)
        except OSError:
            self.close_connection = True  # the sender gave up on us; nothing to answer
        req.answered = time.monotonic()

    do_POST = do_GET = do_PUT = do_DELETE = handle_any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender hanging up mid-answer is expected here, never a test failure


@dataclass
class Receiver:
    """A recording HTTP receiver on a free loopback port (see the module docstring)."""

    default: Behaviour = OK
    per_event: PerEvent | None = None
    script: Iterable[Behaviour] = ()
    path: str = "/hook"
    requests: list[Request] = field(default_factory=list, init=False)
    bytes_sent: dict[int, int] = field(default_factory=dict, init=False)
    closing: threading.Event = field(default_factory=threading.Event, init=False)

    def __post_init__(self) -> None:
        self._script = list(self.script)
        self._lock = threading.Condition()
        self._per_event: Counter[str | None] = Counter()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def _record(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
                ) -> Request:
        with self._lock:
            req = Request(len(self.requests) + 1, method, path, headers, body,
                          time.monotonic(), time.time())
            self.requests.append(req)
            self._lock.notify_all()
            return req

    def _behaviour_for(self, req: Request) -> Behaviour:
        with self._lock:
            if self.per_event is not None:
                self._per_event[req.event_id] += 1
                return self.per_event(req, self._per_event[req.event_id])
            if req.index <= len(self._script):
                return self._script[req.index - 1]
            return self.default

    # --- what arrived -------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return len(self.requests)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Wait until at least `count` requests arrived; fails the test otherwise."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver {self.url} got {len(self.requests)} "
                                         f"requests, expected {count} within {timeout} s")
                self._lock.wait(left)
            return list(self.requests)

    def by_event(self) -> dict[str | None, list[Request]]:
        out: dict[str | None, list[Request]] = {}
        for req in list(self.requests):
            out.setdefault(req.event_id, []).append(req)
        return out

    def event_ids(self) -> set[str | None]:
        return {r.event_id for r in list(self.requests)}

    def reset(self) -> None:
        """Forget what arrived so far (and restart per-event and scripted behaviours)."""
        with self._lock:
            self.requests.clear()
            self.bytes_sent.clear()
            self._per_event.clear()

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing"

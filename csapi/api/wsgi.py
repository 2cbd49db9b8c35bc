"""gevent's HTTP handler, taught to answer like CloudStack at the transport level too.

pywsgi answers a request line of 8 KiB or more with a bare `414` and malformed requests with
an empty `400`. CloudStack clients (libcloud sends everything, userdata included, as GET) need
long query strings, and every answer must be an API envelope. So request lines are accepted up
to the size of a request body, longer ones are read to their end and answered with an
envelope (414), and malformed requests get a 400 envelope.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from gevent import pywsgi

from csapi.api import serialize
from csapi.api.servlet import MAX_REQUEST_SIZE, REQUEST_LINE_TOO_LONG

log = logging.getLogger("csapi.wsgi")

# The same limit as a request body.
MAX_REQUEST_LINE = MAX_REQUEST_SIZE
# A longer line is still read to its end (so the client can read our answer) up to this much.
DRAIN_LIMIT = 4 * MAX_REQUEST_LINE
_CHUNK = 1024 * 1024
_STATUS_TEXT = {400: "Bad Request", 500: "Internal Server Error"}


def envelope_response(code: int, text: str, as_json: bool) -> tuple[str, list[tuple[str, str]],
                                                                     bytes]:
    """(status, headers, body) of an `errorresponse` envelope."""
    body, content_type = serialize.render(
        "errorresponse", {"uuidList": [], "errorcode": code, "errortext": text}, as_json)
    data = body.encode("utf-8")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data))),
               ("Connection", "close"), *serialize.SECURITY_HEADERS.items()]
    return f"{code} {_STATUS_TEXT.get(code, 'Error')}", headers, data


def _salvage(prefix: str) -> str:
    """The request target of a cut-off request line, keeping only what names the command and
    the response format (enough to answer in the right envelope)."""
    target = prefix.split(" ", 1)[1] if " " in prefix else "/"
    path, _, query = target.partition("?")
    items = query.split("&")[:-1]  # the last item is cut off
    kept = [i for i in items if i.split("=", 1)[0].lower() in ("command", "response")]
    return path[:1024] + ("?" + "&".join(kept) if kept else "")


class ApiHandler(pywsgi.WSGIHandler):
    """WSGIHandler with CloudStack-style answers for oversized and malformed requests."""

    _long_target: str | None = None
    _line_too_long = False

    def handle(self) -> None:
        # pywsgi writes the headers and the body of a response separately; with Nagle's
        # algorithm on, the body of every answer after the first on a keep-alive connection
        # then waits for the client's delayed ACK (40 ms on Linux).
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass  # not a TCP socket (e.g. a Unix socket in tests)
        super().handle()

    def read_requestline(self) -> str:
        self._long_target = None
        self._line_too_long = False
        raw: bytes = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if len(raw) > MAX_REQUEST_LINE and not raw.endswith(b"\n"):
            tail = self._drain_line()
            if tail is None:
                return ""  # endless line: give up on this connection
            self._line_too_long = True
            version = tail.rsplit(b" ", 1)[-1].strip().decode("latin-1") or "HTTP/1.1"
            prefix = raw.decode("latin-1")
            method = prefix.split(" ", 1)[0]
            return f"{method} {_salvage(prefix)} {version}\r\n"
        line = raw.decode("latin-1")
        if len(line) < pywsgi.MAX_REQUEST_LINE:
            return line
        # Long but acceptable: hand gevent a short line, keep the real target for the environ.
        words = line.split()
        if len(words) != 3:
            return "MALFORMED REQUEST LINE X\r\n"  # read_request refuses it: a 400 envelope
        self._long_target = words[1]
        return f"{words[0]} / {words[2]}\r\n"

    def _drain_line(self) -> bytes | None:
        """Read and drop the rest of an oversized line; returns its last bytes."""
        drained = 0
        tail = b""
        while drained < DRAIN_LIMIT:
            chunk: bytes = self.rfile.readline(_CHUNK)
            if not chunk:
                return None
            drained += len(chunk)
            tail = (tail + chunk)[-64:]
            if chunk.endswith(b"\n"):
                return tail
        return None

    def read_request(self, raw_requestline: str) -> Any:
        result = super().read_request(raw_requestline)
        if self._long_target is not None:
            self.path = self._long_target
        if self._line_too_long:
            self.close_connection = True  # most of that line was never looked at
        return result

    def get_environ(self) -> dict[str, Any]:
        env: dict[str, Any] = super().get_environ()
        if self._line_too_long:
            env[REQUEST_LINE_TOO_LONG] = MAX_REQUEST_LINE
        return env

    def _wants_json(self) -> bool:
        return "response=json" in (self.requestline or "").lower()

    def _handle_client_error(self, ex: BaseException) -> tuple[str, bytes]:
        # gevent would print a traceback and answer an empty 400.
        log.info("malformed request from %s: %s", self.client_address,
                 str(ex)[:200] or type(ex).__name__)
        status, headers, body = envelope_response(
            400, "Bad Request: malformed HTTP request", self._wants_json())
        head = "".join(f"{k}: {v}\r\n" for k, v in headers)
        return "400", f"HTTP/1.1 {status}\r\n{head}\r\n".encode("latin-1") + body

    def _send_error_response_if_possible(self, error_code: int) -> None:
        if self.response_length:
            self.close_connection = True
            return
        text = ("Bad Request: malformed HTTP request" if error_code == 400
                else "Internal error executing command, please contact your system "
                "administrator")
        status, headers, body = envelope_response(error_code, text, self._wants_json())
        try:
            self.start_response(status, headers)
            self.write(body)
        except OSError:
            self.close_connection = True

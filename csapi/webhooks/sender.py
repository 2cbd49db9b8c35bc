"""One webhook HTTP attempt, made safely, plus the signing helpers.

``post`` checks the destination (:mod:`csapi.webhooks.policy`) on every attempt and connects to
the checked IP address itself, sending the original ``Host`` header and, for https, the original
host name for SNI and certificate verification. It never raises: every outcome is an ``Attempt``.
Retries belong to the caller.

Signatures (all HMAC-SHA256, key = the webhook secret's UTF-8 bytes):

* ``X-CS-Signature``: ``sign_hex`` (design document, our default) or ``sign_base64`` (released
  CloudStack 4.20+) of the exact body bytes.
* ``webhook-signature``: ``standard_webhooks_signature`` = ``v1,<base64 HMAC of
  "{webhook-id}.{webhook-timestamp}.{body}">`` (Standard Webhooks v1). Standard Webhooks
  libraries expect a base64 secret (``whsec_<base64>``) and use its decoded bytes as the key, so a
  receiver verifies our signature by giving them the base64 of the secret's UTF-8 bytes::

      from standardwebhooks import Webhook
      Webhook(base64.b64encode(secret.encode()).decode()).verify(body, headers)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urljoin

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError
from urllib3.util import connection as urllib3_connection
from urllib3.util.ssl_match_hostname import CertificateError

from csapi.webhooks import policy as _policy
from csapi.webhooks.policy import (
    Destination,
    DestinationError,
    DestinationPolicy,
    IPAddress,
    Resolver,
    check_destination,
)

RESPONSE_CAP = 64 * 1024
_CHUNK = 16 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}
_JSON_TYPE = "application/json; charset=UTF-8"
_TEXT_TYPE = "text/plain; charset=UTF-8"
# What a connection can raise: socket and TLS errors are OSError, a hostname mismatch and a bad
# header value are ValueError, and urllib3/http.client wrap the rest.
_NETWORK_ERRORS = (OSError, ValueError, http.client.HTTPException, HTTPError)


def sign_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_base64(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + sign_base64(secret, signed)


def content_type_for(body: str) -> str:
    """JSON content type for a JSON object or array, plain text otherwise (both UTF-8, the
    encoding the signature is computed over)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return _TEXT_TYPE
    return _JSON_TYPE if isinstance(parsed, dict | list) else _TEXT_TYPE


def _content_headers(headers: Mapping[str, str], body: bytes) -> list[tuple[str, str]]:
    """The given headers in order, then Content-Length and Content-Type unless given."""
    items = list(headers.items())
    given = {name.lower() for name, _ in items}
    if "content-length" not in given:
        items.append(("Content-Length", str(len(body))))
    if "content-type" not in given:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            items.append(("Content-Type", _TEXT_TYPE))
        else:
            items.append(("Content-Type", content_type_for(text)))
    return items


def recorded_headers(headers: Mapping[str, str], body: bytes) -> str:
    """Headers as stored in ``webhook_delivery.headers``: ``Name: value`` lines (spec §5.5)."""
    return "\n".join(f"{name}: {value}" for name, value in _content_headers(headers, body))


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Attempt:
    status: int | None  # last HTTP status received during the attempt, if any
    success: bool  # any 2xx
    response: str  # body (capped) or "Failed due to : <error>"
    error: str | None
    started: datetime  # naive UTC
    ended: datetime
    truncated: bool = False  # the body was longer than RESPONSE_CAP
    address: str | None = None  # "ip:port" last connected to


class _Failure(Exception):
    """Internal: ends an attempt with a short reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Watchdog:
    """Enforces the overall deadline by shutting down the attempt's sockets.

    Socket timeouts only bound each recv; a receiver trickling a byte a second never trips
    them. Shutting the connection down wakes the blocked reader in plain threads and, since
    ``threading`` is then a gevent module, also under gevent monkey-patching. A dup of each
    socket is kept so TLS sockets (whose raw socket object gets detached) can be reached too.
    """

    def __init__(self) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._timer: threading.Timer | None = None

    def start(self, seconds: float) -> None:
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> socket.socket:
        dup = sock.dup()
        with self._lock:
            self._socks.append(dup)
            if self.fired:
                _shutdown(dup)
        return dup

    def release(self, dup: socket.socket) -> None:
        # The connection only really closes once every descriptor of it is closed.
        with self._lock:
            if dup in self._socks:
                self._socks.remove(dup)
        dup.close()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                _shutdown(sock)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _WatchedMixin:
    """Registers each new socket with the attempt's watchdog."""

    watchdog: _Watchdog
    _watched: socket.socket | None = None

    def _new_conn(self) -> socket.socket:
        sock = None
        if urllib3_connection.create_connection is _URLLIB3_CREATE_CONNECTION:
            # (When it was replaced, e.g. to simulate the network in tests, it is used.)
            sock = _connect_numeric(self)  # type: ignore[arg-type]
        if sock is None:
            sock = super()._new_conn()  # type: ignore[misc]
        self._watched = self.watchdog.watch(sock)
        return sock

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        if self._watched is not None:
            self.watchdog.release(self._watched)
            self._watched = None


_URLLIB3_CREATE_CONNECTION = urllib3_connection.create_connection


def _connect_numeric(conn: HTTPConnection) -> socket.socket | None:
    """urllib3's ``_new_conn`` for the checked IP address we dial, without its getaddrinfo
    (under gevent a round trip through the resolver's thread pool for an address that needs
    no resolving). Same socket options, timeout and errors; None for anything else."""
    host: str = conn._dns_host  # type: ignore[attr-defined]
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        for option in conn.socket_options or ():
            sock.setsockopt(*option)
        sock.settimeout(conn.timeout)
        if conn.source_address:
            sock.bind(conn.source_address)
        sock.connect((host, conn.port))
    except TimeoutError as exc:
        sock.close()
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. (connect "
                                  f"timeout={conn.timeout})") from exc
    except OSError as exc:
        sock.close()
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
    return sock


class _HTTP(_WatchedMixin, HTTPConnection):
    pass


class _HTTPS(_WatchedMixin, HTTPSConnection):
    pass


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    ssl_verify: bool,
    policy: DestinationPolicy,
    resolve: Resolver | None = None,
    max_redirects: int = 5,
    ca_certs: str | None = None,
) -> Attempt:
    """POST ``body`` to ``url`` once (following redirects only if the policy allows).

    ``timeout`` bounds connect, each read, and the attempt as a whole. ``ca_certs`` replaces
    the system trust store (tests, private CAs). ``resolve`` defaults to the system resolver,
    looked up at each call (not bound at import, so a stand-in put in place later applies).
    """
    run = _Run(timeout, ssl_verify, policy, resolve or _policy.system_resolve, ca_certs)
    started = _utcnow()
    try:
        status, text, truncated = run.follow(url, body, headers, max_redirects)
    except Exception as exc:  # noqa: BLE001 - whatever happens must end as an Attempt
        # _Failure is the expected way out; anything else is a bug or an exotic failure.
        reason = exc.reason if isinstance(exc, _Failure) else f"{type(exc).__name__}: {exc}"
        return Attempt(run.status, False, f"Failed due to : {reason}", reason,
                       started, _utcnow(), address=run.address)
    finally:
        run.watchdog.stop()
    return Attempt(status, 200 <= status < 300, text, None, started, _utcnow(),
                   truncated=truncated, address=run.address)


class _Run:
    """The state of one attempt across its redirect hops."""

    def __init__(
        self,
        timeout: float,
        ssl_verify: bool,
        policy: DestinationPolicy,
        resolve: Resolver,
        ca_certs: str | None,
    ) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.ssl_verify = ssl_verify
        self.policy = policy
        self.resolve = resolve
        self.ca_certs = ca_certs
        self.watchdog = _Watchdog()
        self.status: int | None = None  # last HTTP status received
        self.address: str | None = None  # last address connected to

    def remaining(self) -> float:
        return max(min(self.timeout, self.deadline - time.monotonic()), 0.001)

    def timed_out(self, what: str) -> _Failure:
        return _Failure(f"{what} timed out ({self.timeout:g} s)")

    def follow(
        self, url: str, body: bytes, headers: Mapping[str, str], max_redirects: int
    ) -> tuple[int, str, bool]:
        method, send_body, current = "POST", body, url
        self.watchdog.start(self.deadline - time.monotonic())
        for _hop in range(max_redirects + 1):
            try:
                dest = check_destination(current, self.policy, self.resolve)
            except DestinationError as exc:
                raise _Failure(exc.message) from None
            status, location, data = self.exchange(dest, method, send_body, headers)
            text = data[:RESPONSE_CAP].decode("utf-8", errors="replace")
            if not (self.policy.allow_redirects and status in _REDIRECTS and location):
                return status, text, len(data) > RESPONSE_CAP
            current = urljoin(current, location)
            if status in (301, 302, 303) and method == "POST":
                # Browsers turn these into a GET without a body; 307/308 must keep the POST.
                method, send_body = "GET", b""
        raise _Failure(f"Too many redirects (more than {max_redirects})")

    def exchange(
        self, dest: Destination, method: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str | None, bytes]:
        """One request and response on a fresh connection to a checked address."""
        if method == "POST":
            items = _content_headers(headers, body)
        else:
            drop = {"content-length", "content-type"}
            items = [(k, v) for k, v in headers.items() if k.lower() not in drop]
        send_headers = dict([("Host", dest.host_header), *items])
        conn = self.connect(dest)
        response = None
        phase = "send"
        try:
            conn.request(method, _request_target(dest.path), body=body or None,
                         headers=send_headers, preload_content=False, decode_content=True)
            phase = "read"
            conn.timeout = self.remaining()
            response = conn.getresponse()
            self.status = response.status
            chunks: list[bytes] = []
            size = 0
            # Read at most cap + 1 bytes: enough to know it was truncated, never the whole body.
            while size <= RESPONSE_CAP:
                if self.watchdog.fired:
                    raise TimeoutError
                chunk = response.read(min(_CHUNK, RESPONSE_CAP + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except _NETWORK_ERRORS as exc:
            if self.watchdog.fired:  # whatever broke was broken by the deadline
                raise self.timed_out("Read") from None
            raise _Failure(_describe(exc, phase, self.timeout)) from None
        finally:
            if response is not None:
                response.close()  # the response holds its own reference to the socket
            conn.close()
        return response.status, response.headers.get("Location"), b"".join(chunks)

    def connect(self, dest: Destination) -> HTTPConnection:
        """Connect to the first checked address that answers, in resolver order."""
        reason = "No address to connect to"
        for address in dest.addresses:
            if self.watchdog.fired or time.monotonic() >= self.deadline:
                raise self.timed_out("Connect")
            conn = _new_connection(dest, address, self.remaining(), self.ssl_verify,
                                   self.ca_certs)
            conn.watchdog = self.watchdog
            self.address = _format_address(address, dest.port)
            try:
                conn.connect()
                return conn
            except _NETWORK_ERRORS as exc:
                conn.close()
                if self.watchdog.fired:
                    raise self.timed_out("Connect") from None
                reason = _describe(exc, "connect", self.timeout)
                if reason.startswith("TLS error"):
                    raise _Failure(reason) from None  # it answered: no fallback
        raise _Failure(reason)


def _new_connection(
    dest: Destination, address: IPAddress, timeout: float, ssl_verify: bool, ca_certs: str | None
) -> _HTTP | _HTTPS:
    if dest.scheme == "http":
        return _HTTP(str(address), dest.port, timeout=timeout)
    return _HTTPS(
        str(address),
        dest.port,
        timeout=timeout,
        server_hostname=dest.ascii_host,  # SNI for the name, not the IP we dial
        assert_hostname=dest.ascii_host if ssl_verify else False,
        cert_reqs="CERT_REQUIRED" if ssl_verify else "CERT_NONE",
        ca_certs=ca_certs if ssl_verify else None,
    )


def _format_address(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


_UNSAFE_TARGET = re.compile(r"[^\x21-\x7e]")


def _request_target(path: str) -> str:
    # http.client refuses spaces and control characters; percent-encode them (and non-ASCII).
    return _UNSAFE_TARGET.sub(lambda m: quote(m.group(), safe=""), path)


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while True:
        nxt = exc.__cause__ or (exc.args[1] if len(exc.args) > 1 else None)
        if not isinstance(nxt, BaseException) or id(nxt) in seen:
            return exc
        seen.add(id(nxt))
        exc = nxt


def _describe(exc: BaseException, phase: str, timeout: float) -> str:
    """A short, stable reason for the delivery history."""
    root = _root_cause(exc)
    if isinstance(root, ssl.SSLCertVerificationError):
        return f"TLS error: certificate verify failed: {root.verify_message or root}"
    if isinstance(root, CertificateError):
        return f"TLS error: {root}"
    if isinstance(root, ssl.SSLError):
        return f"TLS error: {root.reason or root}"
    if isinstance(root, TimeoutError | socket.timeout):
        kind = "Connect" if phase == "connect" else "Read"
        return f"{kind} timed out ({timeout:g} s)"
    if isinstance(root, http.client.RemoteDisconnected):
        return "Receiver closed the connection without a response"
    if isinstance(root, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(root, ConnectionResetError):
        return "Connection reset by peer"
    if isinstance(root, BrokenPipeError):
        return "Receiver closed the connection while the request was sent"
    if isinstance(root, http.client.IncompleteRead):
        return "Connection closed before the full response was received"
    if isinstance(root, http.client.HTTPException):
        return f"Invalid HTTP response ({type(root).__name__})"
    if isinstance(root, OSError) and root.strerror:
        return root.strerror
    return f"{type(root).__name__}: {root}"

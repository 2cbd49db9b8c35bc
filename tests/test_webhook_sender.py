"""One webhook attempt against real receivers on 127.0.0.1 (http.server and raw sockets)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from csapi.webhooks.policy import DestinationPolicy, parse_blocklist
from csapi.webhooks.sender import (
    RESPONSE_CAP,
    Attempt,
    content_type_for,
    post,
    recorded_headers,
    sign_base64,
    sign_hex,
    standard_webhooks_signature,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT = DestinationPolicy()
REDIRECTS = DestinationPolicy(allow_redirects=True)
JSON_BODY = b'{ "CloudStack": "works!" }'
HEADERS = {
    "X-CS-Event-ID": "35a50f0c-0000-4000-8000-000000000001",
    "X-CS-Event": "TEST.WEBHOOK",
    "User-Agent": "CS-Hookshot/018af4b7-df21-11f0-ac67-a02942fcdd70",
    "X-CS-Signature": sign_hex("secret", JSON_BODY),
}


def send(url: str, body: bytes = JSON_BODY, *, timeout: float = 5.0, ssl_verify: bool = False,
         policy: DestinationPolicy = DEFAULT, **kwargs) -> Attempt:
    return post(url, body, dict(HEADERS), timeout=timeout, ssl_verify=ssl_verify, policy=policy,
                **kwargs)


def resolver(*answers: str | list[str]) -> Callable[[str, int], Iterable[str]]:
    """A resolver giving the n-th answer on the n-th call (the last one repeats)."""
    calls: list[str] = []

    def resolve(host: str, port: int) -> Iterable[str]:
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(host)
        return [answer] if isinstance(answer, str) else answer

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


# --- receivers ----------------------------------------------------------------------------------

@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


Reply = tuple[int, dict[str, str], bytes]


class Receiver:
    """A threaded http.server on 127.0.0.1 that records requests and answers with ``reply``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Seen] = []
        self.sni: list[str | None] = []
        self.reply: Callable[[Seen], Reply] = lambda seen: (200, {}, b"ok")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, list(self.headers.items()),
                            self.rfile.read(length))
                receiver.requests.append(seen)
                status, headers, body = receiver.reply(seen)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 204:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = do_PUT = handle_any

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
                if tls is None:
                    return super().finish_request(request, client_address)
                try:
                    wrapped = tls.wrap_socket(request, server_side=True)
                except OSError:
                    return  # the client refused our certificate
                try:
                    super().finish_request(wrapped, client_address)
                finally:
                    wrapped.close()

            def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
                pass  # clients that hang up early are part of the tests

        if tls is not None:
            tls.sni_callback = lambda sslobj, name, ctx: self.sni.append(name)
        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawReceiver:
    """Accepts connections on 127.0.0.1 and hands each socket to ``serve``."""

    def __init__(self, serve: Callable[[socket.socket, threading.Event], None]) -> None:
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.workers: list[threading.Thread] = []
        self.serve = serve
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self.run, args=(conn,), daemon=True)
            self.workers.append(worker)
            worker.start()

    def run(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.serve(conn, self.stop)
            except OSError:
                pass

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.listener.close()
        for worker in self.workers:
            worker.join(2)


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            while len(body) < int(line.split(b":")[1]):
                body += conn.recv(65536)
    return data


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[socket.socket, threading.Event], None]], RawReceiver]]:
    started: list[RawReceiver] = []

    def start(serve: Callable[[socket.socket, threading.Event], None]) -> RawReceiver:
        started.append(RawReceiver(serve))
        return started[-1]

    yield start
    for server in started:
        server.close()


def timed(fn: Callable[[], Attempt]) -> tuple[Attempt, float]:
    begin = time.monotonic()
    attempt = fn()
    return attempt, time.monotonic() - begin


# --- signatures and headers ---------------------------------------------------------------------

def test_cloudstack_signature_vector() -> None:
    key = "Pj4pnwSUBZ4wQFXw2zWdVY1k5Ku9bIy70wCNG1DmS8keO7QapCLw2Axtgc2nEPYzfFCfB38ATNLt6caDqU2dSw"
    assert sign_base64(key, b"CloudStack works!") == "HYLWSII5Ap23WeSaykNsIo6mOhmV3d18s5p2cq2ebCA="


def test_github_signature_vector() -> None:
    assert sign_hex("It's a Secret to Everybody", b"Hello, World!") == (
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_hex_and_base64_are_the_same_mac() -> None:
    secret, body = "wébhook ✓", "données ✓".encode()
    assert base64.b64decode(sign_base64(secret, body)).hex() == sign_hex(secret, body)


def test_standard_webhooks_signature_verifies_with_the_reference_library() -> None:
    secret, msg_id = "my webhook secret", "6f1d1e7c-2bd5-4a8e-b3a4-6e0b0b0b0b0b"
    now = int(time.time())
    signature = standard_webhooks_signature(secret, msg_id, now, JSON_BODY)
    assert signature.startswith("v1,")
    assert signature == "v1," + sign_base64(secret, f"{msg_id}.{now}.".encode() + JSON_BODY)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": signature}
    receiver_secret = base64.b64encode(secret.encode()).decode()  # as the module docstring says
    assert Webhook(receiver_secret).verify(JSON_BODY, headers) == {"CloudStack": "works!"}
    assert Webhook("whsec_" + receiver_secret).verify(JSON_BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(base64.b64encode(b"another secret").decode()).verify(JSON_BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(receiver_secret).verify(JSON_BODY + b" ", headers)


@pytest.mark.parametrize(
    ("body", "expected"),
    [('{ "CloudStack": "works!" }', "application/json; charset=UTF-8"),
     ("[1, 2]", "application/json; charset=UTF-8"),
     ("[]", "application/json; charset=UTF-8"),
     ("true", "text/plain; charset=UTF-8"), ('"text"', "text/plain; charset=UTF-8"),
     ("42", "text/plain; charset=UTF-8"), ("hello", "text/plain; charset=UTF-8"),
     ("{broken", "text/plain; charset=UTF-8"), ("", "text/plain; charset=UTF-8")],
)
def test_content_type_for(body: str, expected: str) -> None:
    assert content_type_for(body) == expected


def test_recorded_headers_format() -> None:
    assert recorded_headers(HEADERS, JSON_BODY) == "\n".join([
        "X-CS-Event-ID: 35a50f0c-0000-4000-8000-000000000001",
        "X-CS-Event: TEST.WEBHOOK",
        "User-Agent: CS-Hookshot/018af4b7-df21-11f0-ac67-a02942fcdd70",
        f"X-CS-Signature: {HEADERS['X-CS-Signature']}",
        "Content-Length: 26",
        "Content-Type: application/json; charset=UTF-8",
    ])
    assert recorded_headers({}, "héllo".encode()) == (
        "Content-Length: 6\nContent-Type: text/plain; charset=UTF-8"
    )
    assert recorded_headers({}, b"\xff{}") .endswith("text/plain; charset=UTF-8")
    given = {"content-type": "application/cloudevents+json"}
    assert recorded_headers(given, b"{}") == (
        "content-type: application/cloudevents+json\nContent-Length: 2"
    )


# --- successful deliveries ----------------------------------------------------------------------

def test_post_sends_exact_body_and_headers(receiver: Receiver) -> None:
    attempt = send(receiver.url("/hook?token=abc"))
    assert (attempt.status, attempt.success, attempt.response, attempt.error) == (
        200, True, "ok", None
    )
    assert attempt.address == f"127.0.0.1:{receiver.port}" and not attempt.truncated
    assert attempt.started.tzinfo is None and attempt.started <= attempt.ended
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((now - attempt.ended).total_seconds()) < 5
    [seen] = receiver.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/hook?token=abc", JSON_BODY)
    assert seen.header("Host") == f"127.0.0.1:{receiver.port}"
    # every recorded header went out, in the recorded order
    recorded = [line.split(": ", 1) for line in recorded_headers(HEADERS, JSON_BODY).split("\n")]
    sent = [[k, v] for k, v in seen.headers if k.lower() not in ("host", "accept-encoding")]
    assert sent == recorded


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_success(receiver: Receiver, status: int) -> None:
    body = b"" if status == 204 else b"accepted"
    receiver.reply = lambda seen: (status, {}, body)
    attempt = send(receiver.url())
    assert (attempt.status, attempt.success, attempt.response, attempt.error) == (
        status, True, body.decode(), None
    )


@pytest.mark.parametrize("status", [400, 404, 410, 500, 503])
def test_error_status_is_failure_with_body(receiver: Receiver, status: int) -> None:
    receiver.reply = lambda seen: (status, {"Content-Type": "text/plain"}, b"nope: " + b"x" * 10)
    attempt = send(receiver.url())
    assert (attempt.status, attempt.success, attempt.response, attempt.error) == (
        status, False, "nope: xxxxxxxxxx", None
    )


def test_text_body_and_empty_body(receiver: Receiver) -> None:
    assert send(receiver.url(), "héllo ✓".encode()).success
    assert receiver.requests[0].header("Content-Type") == "text/plain; charset=UTF-8"
    assert receiver.requests[0].body == "héllo ✓".encode()
    assert send(receiver.url(), b"").success
    assert receiver.requests[1].header("Content-Length") == "0"


def test_response_decoded_with_replacement(receiver: Receiver) -> None:
    receiver.reply = lambda seen: (200, {}, b"\xff\xfeok \xe2\x9c\x93")
    assert send(receiver.url()).response == "\ufffd\ufffdok ✓"


def test_numeric_host_spelling_reaches_the_decoded_address(receiver: Receiver) -> None:
    attempt = send(receiver.url(host="2130706433"))
    assert attempt.success and attempt.address == f"127.0.0.1:{receiver.port}"
    assert receiver.requests[0].header("Host") == f"2130706433:{receiver.port}"


def test_path_with_unsafe_characters_is_encoded(receiver: Receiver) -> None:
    assert send(receiver.url("/a b/ü?q=x y")).success
    assert receiver.requests[0].path == "/a%20b/%C3%BC?q=x%20y"


# --- destination policy on every attempt --------------------------------------------------------

def test_destination_checked_on_every_attempt(receiver: Receiver) -> None:
    resolve = resolver("127.0.0.1")
    url = receiver.url(host="hooks.example")
    assert send(url, resolve=resolve).success and send(url, resolve=resolve).success
    assert resolve.calls == ["hooks.example", "hooks.example"]
    assert receiver.requests[0].header("Host") == f"hooks.example:{receiver.port}"


def test_blocked_resolution_never_connects(receiver: Receiver) -> None:
    url = receiver.url(host="rebind.example")
    attempt = send(url, resolve=resolver("169.254.169.254"))
    text = f"Webhook payload URL [{url}] resolves to a blocked IP address"
    assert (attempt.status, attempt.success, attempt.error) == (None, False, text)
    assert attempt.response == f"Failed due to : {text}"
    assert receiver.requests == [] and attempt.address is None


def test_loopback_blocked_by_policy(receiver: Receiver) -> None:
    policy = DestinationPolicy(blocklist=parse_blocklist("127.0.0.0/8"))
    attempt = send(receiver.url(host="0x7f.1"), policy=policy)
    assert attempt.error and attempt.error.endswith("resolves to a blocked IP address")
    assert receiver.requests == []


def test_connects_to_the_checked_address_not_a_second_answer(receiver: Receiver) -> None:
    # A rebinding DNS name: good answer at check time, metadata address afterwards.
    resolve = resolver("127.0.0.1", "169.254.169.254")
    attempt = send(receiver.url(host="rebind.example"), resolve=resolve)
    assert attempt.success and attempt.address == f"127.0.0.1:{receiver.port}"
    assert resolve.calls == ["rebind.example"] and len(receiver.requests) == 1
    # ...and the reverse: the checked (blocked) answer wins over a later good one.
    resolve = resolver("169.254.169.254", "127.0.0.1")
    assert not send(receiver.url(host="rebind.example"), resolve=resolve).success
    assert resolve.calls == ["rebind.example"] and len(receiver.requests) == 1


def test_falls_back_to_the_next_checked_address(receiver: Receiver) -> None:
    # The receiver listens on 127.0.0.1 only, so 127.0.0.2 refuses the connection.
    attempt = send(receiver.url(host="multi.example"), resolve=resolver(["127.0.0.2", "127.0.0.1"]))
    assert attempt.success and attempt.address == f"127.0.0.1:{receiver.port}"


def test_https_only_policy_text(receiver: Receiver) -> None:
    url = receiver.url()
    attempt = send(url, policy=DestinationPolicy(allow_http=False))
    assert attempt.error == f"Only HTTPS webhook payload URLs are allowed, got: {url}"
    assert receiver.requests == []


def test_unresolvable_host() -> None:
    def broken(host: str, port: int) -> Iterable[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    attempt = send("http://nowhere.example/hook", resolve=broken)
    assert attempt.error == "Failed to resolve webhook payload URL host [nowhere.example]"


# --- redirects ----------------------------------------------------------------------------------

def redirecting(location: str, status: int = 302) -> Callable[[Seen], Reply]:
    def reply(seen: Seen) -> Reply:
        if seen.path.startswith("/final"):
            return 200, {}, b"done"
        return status, {"Location": location}, b"moved"
    return reply


def test_redirect_is_a_failure_by_default(receiver: Receiver) -> None:
    receiver.reply = redirecting("/final")
    attempt = send(receiver.url())
    assert (attempt.status, attempt.success, attempt.response, attempt.error) == (
        302, False, "moved", None
    )
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(("status", "method"), [(301, "GET"), (302, "GET"), (303, "GET"),
                                                (307, "POST"), (308, "POST")])
def test_redirect_followed_when_allowed(receiver: Receiver, status: int, method: str) -> None:
    receiver.reply = redirecting("/final?x=1", status)
    attempt = send(receiver.url("/start"), policy=REDIRECTS)
    assert (attempt.status, attempt.success, attempt.response) == (200, True, "done")
    _first, second = receiver.requests
    assert (second.method, second.path) == (method, "/final?x=1")
    assert second.body == (JSON_BODY if method == "POST" else b"")
    assert second.header("X-CS-Event") == "TEST.WEBHOOK"
    if method == "GET":
        assert second.header("Content-Type") is None


def test_every_redirect_hop_is_checked(receiver: Receiver) -> None:
    receiver.reply = redirecting(f"http://second.example:{receiver.port}/final")
    resolve = resolver("127.0.0.1")
    attempt = send(receiver.url(host="first.example"), policy=REDIRECTS, resolve=resolve)
    assert attempt.success and resolve.calls == ["first.example", "second.example"]
    assert receiver.requests[1].header("Host") == f"second.example:{receiver.port}"


def test_redirect_to_metadata_address_is_refused(receiver: Receiver) -> None:
    target = "http://169.254.169.254/latest/meta-data/"
    receiver.reply = redirecting(target)
    attempt = send(receiver.url(), policy=REDIRECTS)
    assert not attempt.success and attempt.status == 302
    assert attempt.error == f"Webhook payload URL [{target}] resolves to a blocked IP address"
    assert len(receiver.requests) == 1


def test_redirect_to_other_scheme_is_refused(receiver: Receiver) -> None:
    receiver.reply = redirecting("ftp://127.0.0.1/file")
    attempt = send(receiver.url(), policy=REDIRECTS)
    assert attempt.error == "Unsupported URL scheme [ftp], only HTTP/HTTPS are supported"


def test_redirect_loop_is_bounded(receiver: Receiver) -> None:
    receiver.reply = redirecting("/again", 307)
    attempt = send(receiver.url(), policy=REDIRECTS, max_redirects=2)
    assert attempt.error == "Too many redirects (more than 2)" and attempt.status == 307
    assert len(receiver.requests) == 3


# --- connection failures ------------------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused() -> None:
    port = closed_port()
    attempt = send(f"http://127.0.0.1:{port}/hook")
    assert (attempt.status, attempt.success, attempt.error, attempt.response) == (
        None, False, "Connection refused", "Failed due to : Connection refused"
    )
    assert attempt.address == f"127.0.0.1:{port}"


def test_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_network(*args: object, **kwargs: object) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", slow_network)
    attempt = send("http://127.0.0.1:9/hook", timeout=1)
    assert attempt.error == "Connect timed out (1 s)" and not attempt.success


def test_hanging_receiver(raw) -> None:
    def hang(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        stop.wait(10)

    server = raw(hang)
    attempt, took = timed(lambda: send(server.url(), timeout=0.5))
    assert attempt.error == "Read timed out (0.5 s)" and attempt.status is None
    assert 0.4 < took < 1.0


def trickle(head: bytes) -> Callable[[socket.socket, threading.Event], None]:
    def serve(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(head)
        while not stop.wait(0.1):
            conn.sendall(b"a")
    return serve


def test_receiver_trickling_headers_hits_the_deadline(raw) -> None:
    # One byte every 0.1 s never trips a 0.5 s socket timeout: only the deadline stops it.
    server = raw(trickle(b"HTTP/1.1 200 OK\r\nX-Slow: "))
    attempt, took = timed(lambda: send(server.url(), timeout=0.5))
    assert attempt.error == "Read timed out (0.5 s)" and not attempt.success
    assert took < 1.0


def test_receiver_trickling_body_hits_the_deadline(raw) -> None:
    server = raw(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"))
    attempt, took = timed(lambda: send(server.url(), timeout=0.5))
    assert (attempt.status, attempt.success, attempt.error) == (
        200, False, "Read timed out (0.5 s)"
    )
    assert took < 1.0


def test_reset_mid_response(raw) -> None:
    def reset(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        stop.wait(0.2)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    server = raw(reset)  # closing with SO_LINGER 0 sends a RST
    attempt = send(server.url())
    assert (attempt.status, attempt.success, attempt.error) == (
        200, False, "Connection reset by peer"
    )
    assert attempt.response == "Failed due to : Connection reset by peer"


def test_response_cut_short(raw) -> None:
    def short(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")

    attempt = send(raw(short).url())
    assert attempt.error == "Connection closed before the full response was received"
    assert not attempt.success


def test_closed_without_response(raw) -> None:
    def hang_up(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)

    attempt = send(raw(hang_up).url())
    assert attempt.error == "Receiver closed the connection without a response"


def test_not_http(raw) -> None:
    def garbage(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    assert send(raw(garbage).url()).error == "Invalid HTTP response (BadStatusLine)"


def test_bad_header_value_is_an_attempt_not_an_exception(receiver: Receiver) -> None:
    attempt = post(receiver.url(), b"{}", {"X-Bad": "a\r\nInjected: 1"}, timeout=2,
                   ssl_verify=False, policy=DEFAULT)
    assert not attempt.success and attempt.error and "Invalid header value" in attempt.error
    assert receiver.requests == []


# --- response size cap --------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "truncated"), [(RESPONSE_CAP, False), (RESPONSE_CAP + 1, True),
                                                 (3 * RESPONSE_CAP, True)])
def test_response_cap(receiver: Receiver, size: int, truncated: bool) -> None:
    receiver.reply = lambda seen: (500, {}, b"e" * size)
    attempt = send(receiver.url())
    assert attempt.response == "e" * RESPONSE_CAP and attempt.truncated is truncated
    assert attempt.status == 500 and not attempt.success


def test_huge_body_is_not_downloaded(raw) -> None:
    total = 50 * 1024 * 1024
    sent = [0]

    def huge(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        chunk = b"z" * 65536
        while sent[0] < total and not stop.is_set():
            conn.sendall(chunk)  # fails once the client hangs up
            sent[0] += len(chunk)

    server = raw(huge)
    attempt, took = timed(lambda: send(server.url(), timeout=10))
    assert (attempt.status, attempt.success, attempt.truncated) == (200, True, True)
    assert attempt.response == "z" * RESPONSE_CAP
    server.workers[0].join(5)
    assert sent[0] < total // 2  # only socket buffers' worth went out
    assert took < 3


# --- TLS ----------------------------------------------------------------------------------------

@dataclass
class Certs:
    ca: Path  # CA certificate (PEM)
    hook: tuple[Path, Path]  # cert and key for hook.test and 127.0.0.1, signed by the CA
    self_signed: tuple[Path, Path]  # self-signed cert and key for localhost and 127.0.0.1


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool,
          names: list[str]) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        builder = (
            builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("tls")
    ca_key, hook_key, self_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_cert = _cert("csapi test CA", ca_key, "csapi test CA", ca_key, ca=True, names=[])
    hook = _cert("hook.test", hook_key, "csapi test CA", ca_key, ca=False, names=["hook.test"])
    self_signed = _cert("localhost", self_key, "localhost", self_key, ca=False,
                        names=["localhost"])
    return Certs(_write(folder, "ca", ca_cert, ca_key)[0], _write(folder, "hook", hook, hook_key),
                 _write(folder, "self", self_signed, self_key))


def tls_receiver(pair: tuple[Path, Path]) -> Receiver:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pair)
    return Receiver(tls=context)


def test_self_signed_receiver(certs: Certs) -> None:
    server = tls_receiver(certs.self_signed)
    try:
        refused = send(server.url(), ssl_verify=True)
        # OpenSSL 1.1 spells it "self signed", 3.x "self-signed"
        assert re.fullmatch("TLS error: certificate verify failed: self.signed certificate",
                            refused.error or "")
        assert server.requests == []
        accepted = send(server.url(), ssl_verify=False)
        assert accepted.success and len(server.requests) == 1
    finally:
        server.close()


def test_tls_verifies_the_url_host_while_dialing_the_checked_ip(certs: Certs) -> None:
    server = tls_receiver(certs.hook)
    try:
        resolve = resolver("127.0.0.1")
        ok = send(server.url(host="hook.test"), ssl_verify=True, ca_certs=str(certs.ca),
                  resolve=resolve)
        assert ok.success, ok.error
        assert server.sni == ["hook.test"]
        assert server.requests[0].header("Host") == f"hook.test:{server.port}"
        # an IP-literal URL is verified against the certificate's IP address
        assert send(server.url(), ssl_verify=True, ca_certs=str(certs.ca)).success
        # a name the certificate does not carry fails, unless verification is off
        wrong = send(server.url(host="other.test"), ssl_verify=True, ca_certs=str(certs.ca),
                     resolve=resolve)
        assert wrong.error and wrong.error.startswith("TLS error: ")
        assert "other.test" in wrong.error
        assert send(server.url(host="other.test"), ssl_verify=False, resolve=resolve).success
        # without the CA the chain is untrusted
        untrusted = send(server.url(host="hook.test"), ssl_verify=True, resolve=resolve)
        assert untrusted.error == (
            "TLS error: certificate verify failed: unable to get local issuer certificate"
        )
        assert len(server.requests) == 3
    finally:
        server.close()


def test_plain_http_receiver_on_https_url(receiver: Receiver) -> None:
    attempt = send(receiver.url().replace("http://", "https://"), ssl_verify=False)
    assert attempt.error and attempt.error.startswith("TLS error: ")


# --- gevent -------------------------------------------------------------------------------------

GEVENT_SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import json, socket, threading, time
    import gevent
    from csapi.webhooks.policy import DestinationPolicy
    from csapi.webhooks.sender import post

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve(conn):
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            data += conn.recv(65536)
        if b"/ok" in data:
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
            return
        conn.sendall(b"HTTP/1.1 200 OK\\r\\nX-Slow: ")
        for _ in range(100):
            time.sleep(0.1)
            conn.sendall(b"a")

    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()

    def attempt(path):
        return post(f"http://127.0.0.1:{port}{path}", b"{}", {}, timeout=0.5,
                    ssl_verify=False, policy=DestinationPolicy())

    begin = time.monotonic()
    jobs = [gevent.spawn(attempt, "/slow") for _ in range(3)] + [gevent.spawn(attempt, "/ok")]
    gevent.joinall(jobs, timeout=10)
    print(json.dumps({"took": time.monotonic() - begin,
                      "results": [[j.value.success, j.value.error] for j in jobs]}))
""")


def test_deadline_under_gevent_monkey_patching() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT], capture_output=True, text=True,
                          timeout=30, cwd=REPO, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["results"] == [[False, "Read timed out (0.5 s)"]] * 3 + [[True, None]]
    assert report["took"] < 1.0  # the three slow attempts ran concurrently

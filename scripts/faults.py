"""Fault injection against real `csapi serve` processes, on loopback only.

    python scripts/faults.py --backend sqlite|mysql [--only NAME ...] [--jobs 100000]

Scenarios (each on a database of its own; MariaDB itself is never stopped, other work
shares it):

  kill-connections   (mysql)  KILL every connection of csapi's schema, in a loop, under load
  proxy-reset        (mysql)  a TCP proxy between csapi and MariaDB resets every connection
                              and refuses new ones for a few seconds, under load
  proxy-blackhole    (mysql)  the proxy stops forwarding (packets vanish) for a few seconds
  sqlite-lock        (sqlite) another process holds an exclusive lock on the database file
  sigkill                     SIGKILL of `csapi serve` under load, then a restart
  big-queue                   a queue of --jobs jobs whose receivers are down: RSS, drain rate
  misbehaving                 receivers that hang, trickle, reset, redirect in a loop, ...

Under load, requests answer a CloudStack envelope (a 530 while the database is away, never a
hang or an HTML page), the service recovers by itself, and no delivery is lost: every event
that was committed gets its history row. A summary table is printed at the end.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from csapi.db.models import WebhookDelivery  # noqa: E402
from tests.receivers import (  # noqa: E402
    CLOSE,
    HANG,
    OK,
    RESET,
    Receiver,
    huge,
    redirect,
    reply,
    sleep,
)

FAULT_SECONDS = 6.0


@dataclass
class Result:
    name: str
    ok: bool
    numbers: str


# --- a TCP proxy that can fail -----------------------------------------------------------

class Proxy:
    """127.0.0.1:<port> -> MariaDB. `down("reset")` resets every connection and refuses new
    ones; `down("blackhole")` stops forwarding without a word; `up()` heals."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 3306)) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode = "up"
        self.flowing = threading.Event()
        self.flowing.set()
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket | None]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if self.mode == "reset":
                _reset(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self.flowing.wait()  # a blackhole holds new connections here, unanswered
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            _reset(client)
            return
        with self.lock:
            self.pairs.append((client, upstream))
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            _reset(sock)

    def down(self, mode: str) -> None:
        self.mode = mode
        if mode == "blackhole":
            self.flowing.clear()
            return
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for client, upstream in pairs:
            _reset(client)
            if upstream is not None:
                _reset(upstream)

    def up(self) -> None:
        self.mode = "up"
        self.flowing.set()


def _reset(sock: socket.socket) -> None:
    """Abort with a TCP RST. shutdown() first: a close() alone would neither wake the pump
    blocked in recv() on it nor, while that recv() holds the socket, send anything."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# --- the shape of every load scenario ------------------------------------------------------

def under_load(name: str, backend: str, fault: Callable[[h.World, h.Server], None], *,
               via_proxy: Proxy | None = None, restart: bool = False) -> Result:
    """Load for a few seconds, the fault, load again; then recovery and the ledger."""
    folder = Path(tempfile.mkdtemp(prefix=f"csapi-{name}-"))
    db = h.new_database(backend, folder)
    rx = Receiver()
    current: dict[str, h.Server] = {}
    try:
        world = h.prepare(db)
        h.add_webhooks(world, [rx.url])
        url = db.url
        if via_proxy is not None:
            url = url.replace("127.0.0.1:3306", f"127.0.0.1:{via_proxy.port}")
        server = current["server"] = h.Server(url, folder=folder)
        sampler = h.Sampler(lambda: current["server"]).start()
        load = h.Load(world, server.url, threads=4).start()
        time.sleep(3)
        before = len(load.answers)
        started = time.monotonic()
        fault(world, server)
        if restart:
            current["server"] = server = h.Server(url, folder=folder, port=server.port)
        outage = time.monotonic() - started
        probe = h.Api(server.url, world.api_key, world.secret, timeout=5)
        recovered_at = time.monotonic()
        while probe.call("listApis", name="listApis").status != 200:
            if time.monotonic() - recovered_at > 120:
                break
            time.sleep(0.1)
        recovery = time.monotonic() - recovered_at
        time.sleep(3)
        load.stop()
        drain = h.wait_drained(db, 120)
        sampler.stop()
        book = h.ledger(db, world.hooks)
        during = Counter(("200" if a.status == 200 else str(a.status)) +
                         ("" if a.envelope or a.status == 0 else " NOT-ENVELOPE")
                         for a in load.answers[before:])
        slowest = max((a.seconds for a in load.answers), default=0.0)
        slow = sum(a.seconds > FAULT_SECONDS + 5 for a in load.answers)
        repeats = sum(n - 1 for n in Counter(r.event_id for r in rx.requests).values())
        tracebacks = server.log().count("Traceback")
        code = server.stop()
        not_envelope = sum(n for k, n in during.items() if "NOT" in k)
        ok = (book.lost == 0 and book.queued == 0 and book.failed == 0 and not_envelope == 0
              and recovery < 60 and code == 0 and (slow == 0 or restart))
        numbers = (f"{book.events} events, {book.rows} delivered, lost {book.lost}, dup rows "
                   f"{book.duplicate_rows}, receiver repeats {repeats}; answers after fault "
                   f"start {dict(during)}; slowest {slowest:.1f}s ({slow} over "
                   f"{FAULT_SECONDS + 5:.0f}s); fault {outage:.1f}s, "
                   f"recovered {recovery:.1f}s after, drained {drain:.1f}s; RSS peak "
                   f"{sampler.peak_rss():.0f} MB; tracebacks logged {tracebacks}; exit {code}")
        return Result(name, ok, numbers)
    finally:
        if "server" in current:
            current["server"].stop()
        rx.close()
        db.drop()


def kill_connections(backend: str) -> Result:
    import pymysql

    def fault(world: h.World, server: h.Server) -> None:
        admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
        killed = 0
        try:
            deadline = time.monotonic() + FAULT_SECONDS
            while time.monotonic() < deadline:
                with admin.cursor() as cur:
                    cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s",
                                (world.db.name,))
                    for (conn_id,) in cur.fetchall():
                        try:
                            cur.execute(f"KILL CONNECTION {int(conn_id)}")
                            killed += 1
                        except pymysql.MySQLError:
                            pass  # already gone
                time.sleep(0.3)
        finally:
            admin.close()
        print(f"  killed {killed} connections of {world.db.name}")

    return under_load("kill-connections", backend, fault)


def proxy_drop(backend: str, mode: str) -> Result:
    proxy = Proxy()

    def fault(world: h.World, server: h.Server) -> None:
        proxy.down(mode)
        time.sleep(FAULT_SECONDS)
        proxy.up()

    return under_load(f"proxy-{mode}", backend, fault, via_proxy=proxy)


def sqlite_lock(backend: str) -> Result:
    import sqlite3

    def fault(world: h.World, server: h.Server) -> None:
        conn = sqlite3.connect(world.db.url.removeprefix("sqlite:///"), timeout=30)
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(FAULT_SECONDS)
        conn.rollback()
        conn.close()

    return under_load("sqlite-lock", backend, fault)


def sigkill(backend: str) -> Result:
    def fault(world: h.World, server: h.Server) -> None:
        server.kill()
        time.sleep(1)

    return under_load("sigkill", backend, fault, restart=True)


# --- a big queue with the receivers down ---------------------------------------------------

def big_queue(backend: str, jobs: int, seconds: float) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="csapi-queue-"))
    db = h.new_database(backend, folder)
    try:
        world = h.prepare(db)
        down = [f"http://127.0.0.1:{h.free_port()}/down/{i}" for i in range(1000)]
        hooks = h.add_webhooks(world, down)
        started = time.monotonic()
        total = h.bulk_jobs(db, hooks, max(1, jobs // len(hooks)))
        built = time.monotonic() - started
        server = h.Server(db.url, folder=folder)
        sampler = h.Sampler(lambda: server, every=2).start()
        api = h.Api(server.url, world.api_key, world.secret)
        latencies = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            latencies.append(api.call("listApis", name="listApis").seconds)
            if h.ledger(db, [], 0).queued == 0:
                break
            time.sleep(1)
        elapsed = time.monotonic() - t0
        sampler.stop()
        engine = db.engine()
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(WebhookDelivery))
            failed = conn.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.success.is_(False)))
        engine.dispose()
        book = h.ledger(db, [], 0)
        code = server.stop()
        rss = [s[1] for s in sampler.samples]
        rate = rows / elapsed if elapsed else 0
        latencies.sort()
        p50 = latencies[len(latencies) // 2] if latencies else 0
        ok = rows + book.queued == total and failed == rows and code == 0
        numbers = (f"{total} jobs queued in {built:.0f}s; in {elapsed:.0f}s: {rows} recorded "
                   f"(all failed: {failed == rows}), {book.queued} still queued, none lost: "
                   f"{rows + book.queued == total}; {rate:.0f} jobs/s (all {total} in ~"
                   f"{total / rate if rate else 0:.0f}s); RSS start {rss[0] if rss else 0:.0f} "
                   f"MB, peak {max(rss, default=0):.0f} MB, end {rss[-1] if rss else 0:.0f} "
                   f"MB; API p50 {p50 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
                   f"exit {code}")
        return Result("big-queue", ok, numbers)
    finally:
        db.drop()


# --- receivers that misbehave ----------------------------------------------------------------

def _trickle(handler, req) -> None:  # type: ignore[no-untyped-def]
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(60):
        if handler.receiver.closing.wait(0.5):
            return
        handler.wfile.write(b"x")
        handler.wfile.flush()


def _garbage(handler, req) -> None:  # type: ignore[no-untyped-def]
    handler.wfile.write(b"\x00\xffNOT HTTP AT ALL\r\n\r\n" * 100)
    handler.wfile.flush()
    handler.close_connection = True


def misbehaving(backend: str) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="csapi-misbehaving-"))
    db = h.new_database(backend, folder)
    behaviours = {"healthy": OK, "slow-3s": sleep(3), "hangs": HANG, "resets": RESET,
                  "closes": CLOSE, "50MB body": huge(), "500s": reply(500, "nope"),
                  "trickles": _trickle, "garbage": _garbage}
    receivers = {name: Receiver(default=b) for name, b in behaviours.items()}
    loop = Receiver()
    loop.default = redirect(302, loop.url)
    receivers["redirect loop"] = loop
    try:
        world = h.prepare(db, settings={"webhook.delivery.tries": "2",
                                        "webhook.delivery.allow.redirects": "true"})
        hooks = dict(zip(receivers, h.add_webhooks(world, [r.url for r in receivers.values()]),
                         strict=True))
        server = h.Server(db.url, folder=folder)
        sampler = h.Sampler(lambda: server).start()
        api = h.Api(server.url, world.api_key, world.secret)
        started = time.monotonic()
        for i in range(5):
            assert api.call("registerUserKeys", id=world.spares[i % 4]).status == 200
        receivers["healthy"].wait_for(5, timeout=30)
        healthy_after = time.monotonic() - started
        drain = h.wait_drained(db, 120)
        sampler.stop()
        book = h.ledger(db, world.hooks)
        engine = db.engine()
        with engine.connect() as conn:
            rows = conn.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.success,
                                       WebhookDelivery.start_time,
                                       WebhookDelivery.end_time)).all()
        outcome = Counter((r.webhook_id, r.success) for r in rows)
        longest = max((r.end_time - r.start_time).total_seconds() for r in rows)
        engine.dispose()
        tracebacks = server.log().count("Traceback")
        code = server.stop()
        # A 2xx is a success even when the body is cut at 64 KB; everything else fails.
        expected = {n: n in ("healthy", "50MB body") for n in receivers}
        as_expected = all(outcome[(hooks[n], want)] == 5 for n, want in expected.items())
        ok = (book.lost == 0 and book.queued == 0 and as_expected and tracebacks == 0
              and code == 0)
        numbers = (f"5 events x {len(receivers)} receivers: {book.rows} rows, lost {book.lost};"
                   f" healthy got all 5 within {healthy_after:.1f}s; successes as expected "
                   f"(healthy, 50MB body) and failures for the other 8: {as_expected}; all "
                   f"recorded within {drain + healthy_after:.1f}s (longest attempt "
                   f"{longest:.0f}s); RSS peak {sampler.peak_rss():.0f} MB; tracebacks "
                   f"{tracebacks}; exit {code}")
        return Result("misbehaving", ok, numbers)
    finally:
        for r in receivers.values():
            r.close()
        db.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--only", nargs="*", default=None, help="scenario names")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--queue-seconds", type=float, default=300.0,
                        help="how long to watch the big queue drain")
    args = parser.parse_args()
    b = args.backend
    scenarios: dict[str, Callable[[], Result]] = {}
    if b == "mysql":
        scenarios["kill-connections"] = lambda: kill_connections(b)
        scenarios["proxy-reset"] = lambda: proxy_drop(b, "reset")
        scenarios["proxy-blackhole"] = lambda: proxy_drop(b, "blackhole")
    else:
        scenarios["sqlite-lock"] = lambda: sqlite_lock(b)
    scenarios["sigkill"] = lambda: sigkill(b)
    scenarios["misbehaving"] = lambda: misbehaving(b)
    scenarios["big-queue"] = lambda: big_queue(b, args.jobs, args.queue_seconds)
    results = []
    for name, run in scenarios.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name} ({b})", flush=True)
        started = time.monotonic()
        try:
            result = run()
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the rest
            result = Result(name, False, f"crashed: {type(exc).__name__}: {exc}")
        print(f"  {'PASS' if result.ok else 'FAIL'} in {time.monotonic() - started:.0f}s: "
              f"{result.numbers}", flush=True)
        results.append(result)
    print()
    print(h.table([[r.name, b, "PASS" if r.ok else "FAIL", r.numbers] for r in results],
                  ["scenario", "backend", "result", "numbers"]))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

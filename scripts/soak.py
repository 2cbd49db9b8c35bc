"""Soak: the webhook dispatcher at about half its measured capacity for a long while.

    python scripts/soak.py [--minutes 10] [--backend sqlite|mysql] [--webhooks 4]

1. Capacity: API clients make events (each fans out to every webhook) at a rate that
   doubles every 10 s until the queue grows; the highest delivery rate kept up with, to a
   fast loopback receiver, is the capacity (the API feeding it shares the process). The
   drain rate of a ready queue with no API traffic is shown too.
2. Soak: API clients make events at half that rate (each event fans out to every webhook)
   for --minutes; every interval a row shows events, deliveries, what is queued, and the
   server's RSS and open file descriptors.
3. Verdict: every event delivered to every webhook (lost must be 0), duplicate history rows,
   repeats seen by the receiver, and how RSS and descriptors moved.

Everything runs on 127.0.0.1; every loop is bounded by the clock.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402


class CountingReceiver:
    """200 to every POST; remembers only how often each (path, event id) arrived."""

    def __init__(self) -> None:
        seen: Counter[str] = Counter()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:  # per webhook (path) and event
                    seen[f"{self.path} {self.headers.get('X-CS-Event-ID')}"] += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def drain_rate(world: h.World, hooks: list[int], jobs: int = 2000) -> float:
    """Deliveries/s while a ready queue drains with no API traffic at all."""
    total = h.bulk_jobs(world.db, hooks, max(1, jobs // len(hooks)))
    started = time.monotonic()
    h.wait_drained(world.db, 600)
    return total / (time.monotonic() - started)


def capacity(world: h.World, server: h.Server, hooks: list[int], threads: int,
             step: float = 10.0) -> tuple[float, list[str]]:
    """The highest delivery rate the server keeps up with while its own API makes the events
    (each fans out to every webhook): event rates double each step until the queue grows by
    more than two seconds' worth of deliveries."""
    best, notes = 0.0, []
    for rate in (2.5, 5, 10, 20, 40, 80, 160):
        load = h.Load(world, server.url, threads, rate=rate).start()
        time.sleep(1)
        before, t0 = h.ledger(world.db, hooks), time.monotonic()
        time.sleep(step)
        after, t1 = h.ledger(world.db, hooks), time.monotonic()
        load.stop()
        offered = (after.events - before.events) * len(hooks) / (t1 - t0)
        delivered = (after.rows - before.rows) / (t1 - t0)
        kept_up = after.queued - before.queued <= 2 * offered
        notes.append(f"{offered:.0f} offered -> {delivered:.0f} delivered/s, queue "
                     f"{before.queued}->{after.queued}")
        h.wait_drained(world.db, 600)
        if not kept_up or offered < rate * len(hooks) * 0.8:  # or the clients hit their limit
            break
        best = delivered
    return best, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--backend", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--webhooks", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between rows")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="csapi-soak-"))
    db = h.new_database(args.backend, folder)
    rx = CountingReceiver()
    server: h.Server | None = None
    try:
        world = h.prepare(db, spares=args.threads)
        hooks = h.add_webhooks(world, [f"{rx.url}/{i}" for i in range(args.webhooks)])
        server = h.Server(db.url, folder=folder)
        drained = drain_rate(world, hooks)
        print(f"a ready queue drains at {drained:.0f} deliveries/s (no API traffic)",
              flush=True)
        measured, notes = capacity(world, server, hooks, args.threads)
        for note in notes:
            print(f"  ramp: {note}", flush=True)
        target = measured / 2 / len(hooks)  # events a second
        print(f"capacity {measured:.0f} deliveries/s with {len(hooks)} webhooks; soaking at "
              f"{target:.1f} events/s (~{target * len(hooks):.0f} deliveries/s) for "
              f"{args.minutes:g} min on {args.backend}", flush=True)
        since = h.max_event_id(db)
        rx.seen.clear()
        load = h.Load(world, server.url, args.threads, rate=target).start()
        rows: list[list[str]] = []
        started = time.monotonic()
        end = started + args.minutes * 60
        rss: list[float] = []
        fds: list[int] = []
        header = ["t (s)", "events", "delivered", "queued", "RSS MB", "fds", "API errors"]
        print(h.table([], header), flush=True)
        while time.monotonic() < end:
            time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            book = h.ledger(db, hooks, since)
            rss.append(server.rss_mb())
            fds.append(server.fds())
            errors = sum(1 for a in list(load.answers) if a.status != 200)
            row = [f"{time.monotonic() - started:.0f}", str(book.events), str(book.rows),
                   str(book.queued), f"{rss[-1]:.1f}", str(fds[-1]), str(errors)]
            rows.append(row)
            print(" | ".join(row), flush=True)
        load.stop()
        achieved = len([a for a in load.answers if a.status == 200]) / (
            time.monotonic() - started)
        drain = h.wait_drained(db, 300)
        book = h.ledger(db, hooks, since)
        repeats = sum(n - 1 for n in rx.seen.values() if n > 1)
        code = server.stop()
        print()
        print(h.table(rows, header))
        print()
        summary = [
            ["drain rate, no API traffic (deliveries/s)", f"{drained:.0f}"],
            ["capacity, API feeding it (deliveries/s)", f"{measured:.0f}"],
            ["offered (events/s, deliveries/s)", f"{achieved:.1f}, {achieved * len(hooks):.0f}"],
            ["events", str(book.events)],
            ["history rows", str(book.rows)],
            ["lost", str(book.lost)],
            ["duplicate rows", str(book.duplicate_rows)],
            ["receiver repeats", str(repeats)],
            ["failed deliveries", str(book.failed)],
            ["drained after stop (s)", f"{drain:.1f}"],
            ["RSS MB first/last/max", f"{rss[0]:.1f} / {rss[-1]:.1f} / {max(rss):.1f}"
             if rss else "-"],
            ["fds first/last/max", f"{fds[0]} / {fds[-1]} / {max(fds)}" if fds else "-"],
            ["server exit code", str(code)],
        ]
        print(h.table(summary, ["soak", "result"]))
        return 0 if book.lost == 0 and book.queued == 0 and code == 0 else 1
    finally:
        if server is not None:
            server.stop()
        rx.close()
        db.drop()


if __name__ == "__main__":
    sys.exit(main())

"""Durability of webhook deliveries across crashes, restarts, database outages and several
management servers, with real `csapi serve` processes. At least once at the receiver, exactly
one history row per (event, webhook)."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from csapi.db.models import WebhookDispatchJob
from tests.conftest import BACKEND
from tests.receivers import OK, Receiver, gated, processed_text, sleep
from tests.server import DatabaseFactory, ServerFactory, mysql_server_url
from tests.webhook_env import (
    Env,
    HookRef,
    env_factory,
    make_event,
    make_events,
    receiver_factory,
)

MakeEnv = Callable[..., Env]
MakeReceiver = Callable[..., Receiver]


@pytest.fixture
def make_env(fresh_database: DatabaseFactory) -> Iterator[MakeEnv]:
    yield from env_factory(fresh_database)


@pytest.fixture
def receivers() -> Iterator[MakeReceiver]:
    yield from receiver_factory()


def assert_each_event_delivered_once(env: Env, rx: Receiver, hook: HookRef, count: int
                                     ) -> None:
    """`count` events, each with exactly one successful history row, each seen by `rx`."""
    events = env.events("REGISTER.USER.KEY")
    assert len(events) == count
    assert env.rows_per_pair() == {(e.id, hook.id): 1 for e in events}
    uuids = {e.id: e.uuid for e in events}
    rows = env.deliveries(hook)
    assert [r for r in rows if not r.success] == []
    assert all(r.response == processed_text(uuids[r.event_id]) for r in rows)
    assert {e.uuid for e in events} <= rx.event_ids()


def test_sigkill_with_hundreds_pending_then_restart_loses_nothing(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    # Two workers and a 50 ms receiver that holds its answers until all 500 events exist:
    # then deliveries flow for a moment, and the process dies in the middle of them.
    env = make_env({"webhook.dispatch.thread.pool.size": "2", "webhook.delivery.timeout": "60"})
    server = env.start(serve)
    gate = threading.Event()
    rx = receivers(default=gated(gate, then=sleep(0.05)))
    hook = env.webhook(env.admin, rx.url)
    gate.set()
    env.baseline(rx)
    gate.clear()
    make_events(env, server, env.admin, 500)
    gate.set()
    rx.wait_for(30, timeout=30)
    server.kill()
    killed_at = rx.count
    inbox, jobs = env.queued()
    assert inbox + jobs >= 400, (inbox, jobs, killed_at)  # most were still pending
    assert env.delivery_count() <= killed_at

    env.set_global({"webhook.dispatch.thread.pool.size": "10"})
    env.start(serve)
    env.wait_deliveries(500, timeout=60)
    env.settle()
    assert_each_event_delivered_once(env, rx, hook, 500)
    # Only what was on the wire when the process died may have been sent twice.
    repeats = sum(n - 1 for n in Counter(r.event_id for r in rx.requests).values())
    assert repeats <= 2, repeats


def test_sigterm_finishes_attempts_in_flight_and_keeps_the_rest_queued(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env({"webhook.delivery.timeout": "15"})
    server = env.start(serve)
    gate = threading.Event()
    rx = receivers(default=gated(gate, then=sleep(1)))
    hook = env.webhook(env.admin, rx.url)
    # The webhook's own WEBHOOK.CREATE event goes out before the scenario starts.
    gate.set()
    env.baseline(rx)
    gate.clear()
    make_events(env, server, env.admin, 20, threads=2)
    # Every worker the webhook may use (pool 5, one kept for other webhooks) holds a
    # request the receiver doesn't answer yet, so nothing else can be claimed meanwhile.
    rx.wait_for(4)
    time.sleep(0.5)
    assert rx.count == 4
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    gate.set()  # the receiver now takes 1 s more to answer each
    started = time.monotonic()
    server.stop()  # waits for the exit; insists on exit code 0
    assert time.monotonic() - started < 5
    # The attempts under way were answered and recorded; nothing new was started.
    assert rx.count == 4
    assert all(r.answered is not None for r in rx.requests)
    rows = env.deliveries(hook)
    assert len(rows) == 4
    assert all(r.success for r in rows)
    assert {env.event(r.event_id).uuid for r in rows} == rx.event_ids()
    inbox, jobs = env.queued()
    assert inbox + jobs == 16
    held = env.run(lambda db: list(db.scalars(select(WebhookDispatchJob.claimed_by).where(
        WebhookDispatchJob.claimed_by.is_not(None)))))
    assert held == []

    rx.default = OK
    env.start(serve)
    env.wait_deliveries(20, timeout=20)
    env.settle()
    assert_each_event_delivered_once(env, rx, hook, 20)
    assert rx.count == 20  # none sent twice


def _lock_sqlite(url: str, seconds: float) -> None:
    """Hold the database's write lock, as a long transaction elsewhere would."""
    conn = sqlite3.connect(make_url(url).database or "", timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _kill_connections(url: str) -> int:
    """KILL every connection to the server's database (the server's and ours)."""
    name = make_url(url).database
    engine = create_engine(mysql_server_url() + "/")
    try:
        with engine.connect() as conn:
            ids = list(conn.execute(text(
                "SELECT id FROM information_schema.processlist WHERE db = :db "
                "AND id <> CONNECTION_ID()"), {"db": name}).scalars())
            for conn_id in ids:
                try:
                    conn.execute(text(f"KILL CONNECTION {int(conn_id)}"))
                except Exception:  # noqa: BLE001 - it may have ended by itself meanwhile
                    pass
            return len(ids)
    finally:
        engine.dispose()


COUNT = 150


def test_the_database_going_away_briefly_loses_no_delivery(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env({"webhook.dispatch.thread.pool.size": "3", "webhook.delivery.tries": "3",
                    "webhook.delivery.timeout": "30"})
    server = env.start(serve)
    gate = threading.Event()
    rx = receivers(default=gated(gate, then=sleep(0.05)))
    hook = env.webhook(env.admin, rx.url)
    gate.set()
    env.baseline(rx)
    gate.clear()
    make_events(env, server, env.admin, COUNT)
    gate.set()  # deliveries flow (about 40 a second) while the database goes away
    rx.wait_for(10)
    late_event: list[BaseException | None] = []
    if BACKEND == "mysql":
        killed = 0
        for _ in range(6):
            killed += _kill_connections(env.url)
            time.sleep(0.4)
        assert killed >= 6
    else:
        for _ in range(2):
            # An API call made meanwhile waits for the lock and then succeeds.
            def call() -> None:
                try:
                    make_event(env.client(env.admin), env.admin, spare=0)
                    late_event.append(None)
                except BaseException as exc:  # noqa: BLE001 - checked below
                    late_event.append(exc)

            caller = threading.Timer(0.5, call)
            caller.start()
            _lock_sqlite(env.url, 2.5)
            caller.join(30)
            time.sleep(0.5)
        assert late_event == [None, None]
    assert env.delivery_count() < COUNT + len(late_event)  # the outage hit work in progress
    total = COUNT + len(late_event)
    env.wait_deliveries(total, timeout=60)
    env.settle()
    assert_each_event_delivered_once(env, rx, hook, total)
    # And the dispatcher is fully back: a new event goes straight out.
    make_event(env.api, env.admin)
    env.wait_deliveries(total + 1, timeout=10)


def test_two_servers_share_the_work_without_losing_or_doubling(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env()
    servers = [env.start(serve, msid=msid) for msid in (5001, 5002)]
    rx = receivers()
    hook = env.webhook(env.admin, rx.url)
    env.baseline(rx)
    # Events through both servers, each with clients of its own.
    makers = [threading.Thread(target=make_events, args=(env, s, env.admin, 500),
                               kwargs={"threads": 2, "first_spare": 2 * k})
              for k, s in enumerate(servers)]
    for t in makers:
        t.start()
    for t in makers:
        t.join()
    env.wait_deliveries(1000, timeout=60)
    env.settle()
    assert_each_event_delivered_once(env, rx, hook, 1000)
    assert rx.count == 1000  # no request sent twice
    by_server = Counter(r.mshost_msid for r in env.deliveries(hook))
    assert set(by_server) == {5001, 5002}, by_server
    assert min(by_server.values()) >= 50, by_server

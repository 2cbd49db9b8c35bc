"""The webhook dispatcher end to end: real `csapi serve` processes deliver real events over HTTP
to real receivers on 127.0.0.1 (tests/receivers.py). Runs on SQLite and, with
CSAPI_TEST_BACKEND=mysql, on MariaDB."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from csapi.app import AppState
from csapi.db import transaction
from csapi.db.models import Configuration, Event, ManagementServer, Webhook, WebhookDelivery
from csapi.webhooks import cleanup
from tests.receivers import (
    CLOSE,
    HANG,
    RESET,
    Receiver,
    closed_port_url,
    fail_then_ok,
    gated,
    huge,
    processed_text,
    redirect,
    reply,
    sleep,
)
from tests.server import DatabaseFactory, ServerFactory
from tests.webhook_env import (
    MSID,
    Env,
    HookRef,
    Tenant,
    env_factory,
    login,
    make_event,
    receiver_factory,
)

JSON_TYPE = "application/json; charset=UTF-8"

MakeEnv = Callable[..., Env]
MakeReceiver = Callable[..., Receiver]


@pytest.fixture
def make_env(fresh_database: DatabaseFactory) -> Iterator[MakeEnv]:
    yield from env_factory(fresh_database)


@pytest.fixture
def receivers() -> Iterator[MakeReceiver]:
    yield from receiver_factory()


def only_row(env: Env, hook: HookRef) -> WebhookDelivery:
    rows = env.deliveries(hook)
    assert len(rows) == 1, [(r.event_id, r.response) for r in rows]
    return rows[0]


# --- delivery basics ---------------------------------------------------------------------------

def test_every_matching_webhook_gets_the_stored_payload_with_cloudstack_headers(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env()
    server = env.start(serve)
    alice = env.tenant("alice")
    rx_local, rx_global = receivers(), receivers()
    local = env.webhook(alice, rx_local.url)
    glob = env.webhook(env.admin, rx_global.url, scope="Global")
    env.baseline(rx_local, rx_global)
    api = env.client(alice)
    for _ in range(3):
        make_event(api, alice)
    login(server, alice)
    make_event(env.api, env.admin)

    rx_local.wait_for(4)
    rx_global.wait_for(5)
    env.wait_deliveries(9)
    env.settle()
    events = {e.id: e for e in env.events()}
    owners = {alice.account_id: alice.account_uuid, env.admin.account_id: env.admin.account_uuid}
    assert sorted(Counter(e.type for e in events.values()).items()) == [
        ("REGISTER.USER.KEY", 4), ("USER.LOGIN", 1)]
    # One history row per (event, webhook): alice's 4 events to both, the admin's to Global.
    alice_events = {e.id for e in events.values() if e.account_id == alice.account_id}
    expected = {(e, local.id) for e in alice_events} | {(e, glob.id) for e in events}
    assert env.rows_per_pair() == dict.fromkeys(expected, 1)
    assert rx_local.count == 4 and rx_global.count == 5  # no duplicate sends

    with env.tx() as db:
        ms_uuid = db.scalar(select(ManagementServer.uuid).where(ManagementServer.msid == MSID))
    for rx, hook in ((rx_local, local), (rx_global, glob)):
        requests_by_event = rx.by_event()
        # (the API also lists the set-up's deliveries: look at this test's events only)
        listed = {d["eventid"]: d for d in env.api.ok(
            "listWebhookDeliveries", webhookid=hook.uuid)["webhookdelivery"]
            if d["eventid"] in {e.uuid for e in events.values()}}
        assert len(listed) == len(env.deliveries(hook))
        for row in env.deliveries(hook):
            event = events[row.event_id]
            [req] = requests_by_event[event.uuid]
            assert req.method == "POST" and req.path == "/hook"
            assert req.body == (row.payload or "").encode("utf-8")  # byte for byte
            payload = json.loads(req.body)
            assert payload["event"] == event.type and payload["status"] == "Completed"
            assert payload["account"] == owners[event.account_id]
            sent = [
                ("X-CS-Event-ID", event.uuid),
                ("X-CS-Event", event.type),
                ("User-Agent", f"CS-Hookshot/{owners[event.account_id]}"),
                ("Content-Length", str(len(req.body))),
                ("Content-Type", JSON_TYPE),
            ]
            ours = [(k, v) for k, v in req.headers if k not in ("Host", "Accept-Encoding")]
            assert ours == sent
            # The history keeps the headers exactly as sent, in order.
            assert row.headers == "\n".join(f"{k}: {v}" for k, v in sent)
            assert row.success is True
            assert row.response == processed_text(event.uuid)
            assert row.mshost_msid == MSID
            assert row.start_time is not None and row.end_time is not None
            assert row.start_time <= row.end_time
            assert abs(row.start_time - datetime.utcnow()) < timedelta(seconds=60)
            # The API shows the same delivery: eventid is the X-CS-Event-ID that was sent.
            shown = listed[event.uuid]
            assert (shown["id"], shown["eventtype"], shown["webhookid"]) == (
                row.uuid, event.type, hook.uuid)
            assert shown["payload"] == req.body.decode("utf-8")
            assert shown["headers"] == row.headers
            assert shown["success"] is True
            assert shown["response"] == processed_text(event.uuid)
            assert shown["managementserverid"] == ms_uuid


def test_scope_sub_domains_and_filters_select_the_webhooks(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env()
    server = env.start(serve)
    admin = env.admin
    d1 = env.domain("D1")
    sub = env.domain("Sub", parent=d1)
    d2 = env.domain("D2")
    a1 = env.tenant("a1", d1)
    b1 = env.tenant("b1", d1)
    s1 = env.tenant("s1", sub)
    a2 = env.tenant("a2", d2)
    d1admin = env.tenant("d1admin", d1, account_type=2)
    subadmin = env.tenant("subadmin", sub, account_type=2)
    rx = receivers()

    def hook(name: str, owner: Tenant, **kw: Any) -> HookRef:
        return env.webhook(owner, f"{rx.url}/{name}", name=name, **kw)

    hooks = {
        "local_a1": hook("local_a1", a1),
        "domain_d1": hook("domain_d1", d1admin, scope="Domain"),
        "domain_sub": hook("domain_sub", subadmin, scope="Domain"),
        "domain_root": hook("domain_root", admin, scope="Domain"),
        "domain_d1_by_root": hook("domain_d1_by_root", admin, scope="Domain", domain=d1),
        "global": hook("global", admin, scope="Global"),
        "local_admin": hook("local_admin", admin),
        "disabled": hook("disabled", a1, state="Disabled"),
        "removed": hook("removed", a1),
        "global_disabled": hook("global_disabled", admin, scope="Global", state="Disabled"),
        "only_login": hook("only_login", admin, scope="Global",
                           filters=[("Include", "Exact", "USER.LOGIN")]),
        "no_login": hook("no_login", admin, scope="Global",
                         filters=[("Exclude", "Suffix", ".LOGIN")]),
        "contains_key": hook("contains_key", admin, scope="Global",
                             filters=[("Include", "Contains", "USER.KEY")]),
        "prefix_either": hook("prefix_either", admin, scope="Global",
                              filters=[("Include", "Prefix", "USER."),
                                       ("Include", "Prefix", "REGISTER.")]),
        "exclude_wins": hook("exclude_wins", admin, scope="Global",
                             filters=[("Include", "Prefix", "USER."),
                                      ("Exclude", "Exact", "USER.LOGIN")]),
        "case_sensitive": hook("case_sensitive", admin, scope="Global",
                               filters=[("Include", "Exact", "user.login")]),
    }
    env.delete_webhook(hooks["removed"])
    env.baseline(rx)
    actors = {"a1": a1, "b1": b1, "s1": s1, "a2": a2, "admin": admin}
    for who in actors.values():
        make_event(env.client(who), who)
        login(server, who)

    L, R = "USER.LOGIN", "REGISTER.USER.KEY"  # noqa: N806 - short names for the table below
    everyone = {(n, t) for n in actors for t in (L, R)}
    d1_subtree = {(n, t) for n in ("a1", "b1", "s1") for t in (L, R)}
    expected = {
        "local_a1": {("a1", L), ("a1", R)},
        "domain_d1": d1_subtree,
        "domain_d1_by_root": d1_subtree,
        "domain_sub": {("s1", L), ("s1", R)},
        "domain_root": everyone,
        "global": everyone,
        "local_admin": {("admin", L), ("admin", R)},
        "disabled": set(),
        "removed": set(),
        "global_disabled": set(),
        "only_login": {(n, L) for n in actors},
        "no_login": {(n, R) for n in actors},
        "contains_key": {(n, R) for n in actors},
        "prefix_either": everyone,
        "exclude_wins": set(),
        "case_sensitive": set(),
    }
    total = sum(len(v) for v in expected.values())
    rx.wait_for(total)
    env.wait_deliveries(total)
    env.settle()
    time.sleep(0.3)  # anything wrongly queued would show up now
    account_names = {who.account_id: n for n, who in actors.items()}
    events = {e.id: e for e in env.events()}
    assert len(events) == 10
    got: dict[str, set[tuple[str, str]]] = {name: set() for name in hooks}
    for name, ref in hooks.items():
        for row in env.deliveries(ref):
            event = events[row.event_id]
            got[name].add((account_names[event.account_id], event.type))
            assert row.success is True
    assert got == expected
    assert sum(env.rows_per_pair().values()) == total
    # The receiver saw exactly the same: one request per delivery, on each webhook's path.
    seen = Counter(r.path.rsplit("/", 1)[1] for r in rx.requests)
    assert seen == Counter({name: len(v) for name, v in expected.items() if v})


def test_disabling_or_deleting_a_webhook_drops_its_queued_deliveries(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    # Two workers: each webhook has one request out (held by its receiver), five queued.
    env = make_env({"webhook.dispatch.thread.pool.size": "2", "webhook.delivery.timeout": "30"})
    env.start(serve)
    owner = env.tenant("owner")
    gate = threading.Event()
    rx_disabled, rx_deleted = receivers(default=gated(gate)), receivers(default=gated(gate))
    disabled = env.webhook(owner, rx_disabled.url)
    deleted = env.webhook(owner, rx_deleted.url)
    gate.set()
    env.baseline(rx_disabled, rx_deleted)
    gate.clear()
    api = env.client(owner)
    for _ in range(6):
        make_event(api, owner)
    rx_disabled.wait_for(1)
    rx_deleted.wait_for(1)
    env.api.ok("updateWebhook", id=disabled.uuid, state="Disabled")
    env.delete_webhook(deleted)
    gate.set()
    env.settle()
    # The requests already out were answered and recorded; nothing else was sent.
    assert (rx_disabled.count, rx_deleted.count) == (1, 1)
    assert only_row(env, disabled).success is True
    assert only_row(env, deleted).success is True
    # Enabled again, it receives new events (not the dropped ones).
    env.api.ok("updateWebhook", id=disabled.uuid, state="Enabled")
    make_event(api, owner)
    [_, latest] = rx_disabled.wait_for(2)
    env.settle()
    assert latest.event_id == env.events()[-1].uuid
    assert len(env.deliveries(disabled)) == 2 and rx_deleted.count == 1


# --- what receivers do ----------------------------------------------------------------------

MISBEHAVING: dict[str, tuple[dict, bool, int, str | None]] = {
    # name: (Receiver kwargs, success, requests per event, exact response or None)
    "created_201": ({"default": reply(201, "created")}, True, 1, "created"),
    "accepted_202": ({"default": reply(202, "queued")}, True, 1, "queued"),
    "no_content_204": ({"default": reply(204)}, True, 1, ""),
    "moved_301": ({"default": redirect(301, "http://127.0.0.1:9/x")}, False, 2,
                  "Moved to http://127.0.0.1:9/x"),
    "missing_404": ({"default": reply(404, "no such hook")}, False, 2, "no such hook"),
    "broken_500": ({"default": reply(500, "internal trouble")}, False, 2, "internal trouble"),
    "too_slow": ({"default": sleep(3)}, False, 2, "Failed due to : Read timed out (1 s)"),
    "never_answers": ({"default": HANG}, False, 2, "Failed due to : Read timed out (1 s)"),
    "resets": ({"default": RESET}, False, 2, None),
    "closes": ({"default": CLOSE}, False, 2,
               "Failed due to : Receiver closed the connection without a response"),
    # Kept: the first 64 KiB that fit a TEXT column (65,535 bytes on MySQL/MariaDB).
    "fifty_megabytes": ({"default": huge()}, True, 1, "x" * 65535),
    "healthy": ({}, True, 1, None),
}


def test_misbehaving_receivers_end_as_recorded_results_and_others_carry_on(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env({"webhook.delivery.timeout": "10", "webhook.delivery.tries": "5"})
    server = env.start(serve)
    dom = env.domain("Misbehaving")
    env.set_domain(dom, {"webhook.delivery.tries": "2", "webhook.delivery.timeout": "1"})
    owner = env.tenant("victim", dom)
    rxs = {name: receivers(**kw) for name, (kw, *_rest) in MISBEHAVING.items()}
    hooks = {name: env.webhook(owner, rx.url, name=name) for name, rx in rxs.items()}
    refused = env.webhook(owner, closed_port_url(), name="refused")
    env.baseline(*rxs.values())
    api = env.client(owner)
    started = time.monotonic()
    make_event(api, owner)
    env.wait_deliveries(len(hooks) + 1, timeout=20)
    elapsed = time.monotonic() - started
    env.settle()
    [event] = env.events()
    for name, (_kw, success, requests, response) in MISBEHAVING.items():
        row = only_row(env, hooks[name])
        rx = rxs[name]
        assert (name, row.success) == (name, success)
        assert (name, rx.count) == (name, requests)
        assert {r.event_id for r in rx.requests} == {event.uuid}
        if response is not None:
            assert (name, row.response) == (name, response)
    reset = only_row(env, hooks["resets"]).response
    assert reset in ("Failed due to : Connection reset by peer",
                     "Failed due to : Connection closed before the full response was received")
    assert only_row(env, hooks["healthy"]).response == processed_text(event.uuid)
    assert rxs["fifty_megabytes"].bytes_sent[1] < 50 * 1024 * 1024  # it stopped reading
    assert only_row(env, refused).response == "Failed due to : Connection refused"
    assert only_row(env, refused).success is False
    # The per-domain 1 s timeout and 2 tries bound the slowest ones (not the global 10 s x 5).
    assert elapsed < 8, elapsed

    # Nothing crashed: the server answers and delivers the next event to everyone again.
    make_event(api, owner)
    rxs["healthy"].wait_for(2)
    env.wait_deliveries(2 * (len(hooks) + 1), timeout=20)
    assert "Traceback" not in server.log()


# --- tries, timeouts and backoff per domain ----------------------------------------------

def test_tries_and_timeout_are_read_from_the_webhooks_domain(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env({"webhook.delivery.tries": "1", "webhook.delivery.timeout": "5"})
    env.start(serve)
    three, two, quick = env.domain("Three"), env.domain("Two"), env.domain("Quick")
    env.set_domain(three, {"webhook.delivery.tries": "3"})
    env.set_domain(two, {"webhook.delivery.tries": "2"})
    env.set_domain(quick, {"webhook.delivery.timeout": "1", "webhook.delivery.tries": "2"})
    owners = {
        "quick": env.tenant("tq", quick),
        "three": env.tenant("t3", three),
        "two": env.tenant("t2", two),
        "global": env.tenant("tg"),
        "patient": env.tenant("tp"),
    }
    rxs = {
        "quick": receivers(default=sleep(3)),
        "three": receivers(per_event=fail_then_ok(2)),
        "two": receivers(per_event=fail_then_ok(2)),
        "global": receivers(per_event=fail_then_ok(2)),
        "patient": receivers(default=sleep(2)),
    }
    hooks = {name: env.webhook(owners[name], rxs[name].url) for name in owners}
    env.baseline(*rxs.values())
    clients = {name: env.client(who) for name, who in owners.items()}
    started = time.monotonic()
    for name, who in owners.items():  # "quick" first
        make_event(clients[name], who)
    quick_rows = env.wait_deliveries(1, hooks["quick"], timeout=10)
    quick_elapsed = time.monotonic() - started
    env.wait_deliveries(len(hooks), timeout=15)
    env.settle()
    events = {e.account_id: e for e in env.events()}

    def check(name: str, success: bool, requests: int, response: str) -> None:
        row = only_row(env, hooks[name])
        event = events[owners[name].account_id]
        assert row.event_id == event.id
        assert (name, row.success, row.response) == (name, success, response)
        assert [r.event_id for r in rxs[name].requests] == [event.uuid] * requests

    uuid_of = {name: events[who.account_id].uuid for name, who in owners.items()}
    check("three", True, 3, processed_text(uuid_of["three"]))
    check("two", False, 2, "fail 2")
    check("global", False, 1, "fail 1")
    check("quick", False, 2, "Failed due to : Read timed out (1 s)")
    check("patient", True, 1, processed_text(uuid_of["patient"]))
    # Two tries of one second each, not the global five.
    assert quick_elapsed < 2 * 1 + 1.5, quick_elapsed
    [row] = quick_rows
    assert timedelta(seconds=0.9) <= row.end_time - row.start_time <= timedelta(seconds=1.8)


def test_backoff_spaces_the_tries_without_holding_a_worker(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env({"webhook.dispatch.thread.pool.size": "1"})
    env.start(serve)
    slow_dom = env.domain("Backoff")
    env.set_domain(slow_dom, {"webhook.delivery.retry.backoff": "1",
                              "webhook.delivery.tries": "3"})
    retried = env.tenant("retried", slow_dom)
    other = env.tenant("other")
    rx_retry = receivers(per_event=fail_then_ok(2))
    rx_other = receivers()
    hook_retry = env.webhook(retried, rx_retry.url)
    hook_other = env.webhook(other, rx_other.url)
    env.baseline(rx_retry, rx_other)
    make_event(env.client(retried), retried)
    [first] = rx_retry.wait_for(1)
    # While the retried delivery waits for its next try, the single worker serves others.
    api = env.client(other)
    for _ in range(3):
        make_event(api, other)
    others = rx_other.wait_for(3, timeout=5)
    tries = rx_retry.wait_for(3, timeout=10)
    env.wait_deliveries(1, hook_retry)
    env.settle()
    assert max(r.received for r in others) < tries[1].received
    gaps = [b.received - a.received for a, b in zip(tries, tries[1:], strict=False)]
    # backoff x 2^(n-1) with +/-20% jitter: 0.8-1.2 s, then 1.6-2.4 s; due times are whole
    # seconds (what MySQL stores), so up to 1 s more, plus dispatch latency.
    assert 0.8 <= gaps[0] <= 2.6, gaps
    assert 1.6 <= gaps[1] <= 3.5, gaps
    assert len({r.event_id for r in tries}) == 1
    row = only_row(env, hook_retry)
    assert row.success is True and row.response == processed_text(first.event_id)
    assert len(env.deliveries(hook_other)) == 3


def event_latencies(env: Env, owner: Tenant, rx: Receiver, count: int) -> list[float]:
    """`count` events, a quarter of a second apart: seconds from each API call to `rx`
    receiving its delivery."""
    api = env.client(owner)
    latencies = []
    for n in range(1, count + 1):
        sent = time.monotonic()
        make_event(api, owner)
        [*_, last] = rx.wait_for(n, timeout=30)
        latencies.append(last.received - sent)
        time.sleep(0.25)
    return latencies


def test_a_receiver_that_never_answers_does_not_hold_up_a_fast_one(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env({"webhook.delivery.timeout": "2", "webhook.delivery.tries": "2"})
    env.start(serve)
    owner = env.tenant("mixed")
    rx_slow = receivers(default=HANG)
    rx_fast = receivers()
    env.webhook(owner, rx_slow.url, name="slow")
    fast = env.webhook(owner, rx_fast.url, name="fast")
    env.baseline(rx_slow, rx_fast)
    latencies = event_latencies(env, owner, rx_fast, 12)
    # Meanwhile the slow receiver has jobs waiting on 2 x 2 s timeouts.
    assert rx_slow.count >= 2
    assert max(latencies) < 1.5, latencies
    assert len(env.deliveries(fast)) == 12


def test_many_failing_receivers_leave_a_worker_for_the_healthy_ones(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    """Six webhooks on a receiver that never answers, each within its own share of the pool
    of 5: once they are known to fail, together they get at most 4 workers, and the healthy
    webhook's deliveries do not queue behind theirs."""
    env = make_env({"webhook.delivery.timeout": "3", "webhook.delivery.tries": "1"})
    env.start(serve)
    owner = env.tenant("many-bad")
    rx_bad = receivers(default=HANG)
    rx_fast = receivers()
    for n in range(6):
        env.webhook(owner, f"{rx_bad.url}?n={n}", name=f"bad-{n}")
    fast = env.webhook(owner, rx_fast.url, name="fast")
    api = env.client(owner)
    # One event first, and its tries end: the dispatcher learns which webhooks fail. (Before
    # that nothing tells a bad receiver from a good one, and they may take every worker.)
    make_event(api, owner)
    env.baseline(rx_bad, rx_fast, timeout=60)
    latencies = event_latencies(env, owner, rx_fast, 8)
    assert rx_bad.count >= 4  # the bad ones kept being tried meanwhile
    assert max(latencies) < 1.5, latencies
    assert len(env.deliveries(fast)) == 8


# --- history cleanup (in process) --------------------------------------------------------

def test_history_cleanup_keeps_the_newest_rows_of_each_webhook(state: AppState) -> None:
    with transaction(state.sessions) as db:
        db.get(Configuration, "webhook.dispatch.history.limit").value = "20"
        now = datetime.utcnow().replace(microsecond=0)
        event = Event(uuid="e-1", type="USER.LOGIN", state="Completed", description="x",
                      user_id=2, account_id=2, domain_id=1, created=now, level="INFO")
        db.add(event)
        hooks = []
        for name in ("big", "small", "tiny"):
            hook = Webhook(uuid=f"uuid-{name}", name=name, state="Enabled", domain_id=1,
                           account_id=2, payload_url="http://127.0.0.1:9/", scope="Local",
                           created=now)
            db.add(hook)
            hooks.append(hook)
        db.flush()
        big, small, tiny = (h.id for h in hooks)
        # Interleaved ids: 2,500 for "big" (more than one cleanup batch), 40 for "small".
        plan = [big] * 2500 + [small] * 40 + [tiny] * 5
        random.Random(7).shuffle(plan)
        db.add_all(WebhookDelivery(uuid=f"d{i}", event_id=event.id, webhook_id=h,
                                   mshost_msid=1000, payload="{}", success=True, response="",
                                   start_time=now, end_time=now) for i, h in enumerate(plan))
    with transaction(state.sessions) as db:
        before = {h: list(db.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == h).order_by(WebhookDelivery.id)))
            for h in (big, small, tiny)}
    removed = cleanup.trim_all(state)
    assert removed == 2500 - 20 + 40 - 20
    with transaction(state.sessions) as db:
        after = {h: list(db.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == h).order_by(WebhookDelivery.id)))
            for h in (big, small, tiny)}
    assert after == {big: before[big][-20:], small: before[small][-20:], tiny: before[tiny]}
    assert cleanup.trim_all(state) == 0  # idempotent


@pytest.mark.parametrize("limit", ["0", "1"])
def test_history_cleanup_limit_edges(state: AppState, limit: str) -> None:
    with transaction(state.sessions) as db:
        db.get(Configuration, "webhook.dispatch.history.limit").value = limit
        now = datetime.utcnow().replace(microsecond=0)
        event = Event(uuid="e-1", type="USER.LOGIN", state="Completed", description="x",
                      user_id=2, account_id=2, domain_id=1, created=now, level="INFO")
        hook = Webhook(uuid="u", name="h", state="Enabled", domain_id=1, account_id=2,
                       payload_url="http://127.0.0.1:9/", scope="Local", created=now)
        db.add_all([event, hook])
        db.flush()
        db.add_all(WebhookDelivery(uuid=f"d{i}", event_id=event.id, webhook_id=hook.id,
                                   mshost_msid=1000, payload="{}", success=True, response="",
                                   start_time=now, end_time=now) for i in range(5))
    cleanup.trim_all(state)
    with transaction(state.sessions) as db:
        left = list(db.scalars(select(WebhookDelivery.uuid).order_by(WebhookDelivery.id)))
    assert left == ["d4"][: int(limit)]

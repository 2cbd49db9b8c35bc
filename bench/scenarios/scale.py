"""Scenario 5, scale: 1,000,000 history rows and 10,000 webhooks (x --scale), bulk-inserted
directly into the database (MariaDB by default).

The rows: 10% belong to one "hot" webhook, the rest spread evenly over the others; all
webhooks are Disabled, owned by the root admin. Figures: `listWebhookDeliveries` latency for
the hot webhook (page 1 of 20, sequential requests on one keep-alive connection), and delivery
throughput while a cleanup pass (`csapi.webhooks.cleanup.trim_all`, history limit 50, in a
gevent process of its own) runs, against the same window without it. Targets: list p99 <=
20 ms; throughput during cleanup >= 0.8 x without.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from bench.common import Report, percentile
from bench.load import burst
from bench.scenarios.shared import SECRET, domain_events, drivers, purge_queue, settle
from bench.stack import ROOT, ApiClient, Receiver, Stack, child_env, stack
from csapi.db.models import Event, Webhook, WebhookDelivery

FULL_ROWS = 1_000_000
FULL_WEBHOOKS = 10_000
HOT_SHARE = 0.10
HISTORY_LIMIT = 50
LIST_REQUESTS = 300
BATCH = 10_000
HEADERS = ("X-CS-Event-ID: {e}\nX-CS-Event: DOMAIN.CREATE\nUser-Agent: CS-Hookshot/"
           "7e5b2d9f-1f0e-4a8e-9f5e-3c2d1b0a9f8e\nX-CS-Signature: "
           "9c1f0e4a8e9f5e3c2d1b0a9f8e6a1c0f2e1f0e4a8e9f5e3c2d1b0a9f8e6a1c0f\nwebhook-id: {e}\n"
           "webhook-timestamp: 1767225600\nwebhook-signature: v1,Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6"
           "cXV4Zm9vYmFyYmF6\nContent-Length: 371\nContent-Type: application/json; "
           "charset=UTF-8")
PAYLOAD = ('{{"eventDateTime":"2026-01-01 00:00:00 +0000","entityuuid":"{e}","description":'
           '"Successfully completed creating Domain. Domain Name: scale, Domain Id: 7","event":'
           '"DOMAIN.CREATE","user":"8f6c3e0a-1f0e-4a8e-9f5e-3c2d1b0a9f8e","account":'
           '"7e5b2d9f-1f0e-4a8e-9f5e-3c2d1b0a9f8e","entity":"Domain","Domain":"{e}",'
           '"status":"Completed"}}')


@dataclass
class Data:
    hot_uuid: str
    typical_uuid: str
    hot_id: int
    hot_rows: int
    event_ids: list[int]


def _insert_rows(s: Stack, hooks_of_rows: list[int], event_ids: list[int], msid: int,
                 rng: random.Random) -> None:
    now = datetime.utcnow().replace(microsecond=0)
    with s.engine.begin() as conn:
        for start in range(0, len(hooks_of_rows), BATCH):
            batch = []
            for hook in hooks_of_rows[start:start + BATCH]:
                e = str(uuid.UUID(int=rng.getrandbits(128)))
                batch.append({"uuid": str(uuid.uuid4()), "event_id": rng.choice(event_ids),
                              "webhook_id": hook, "mshost_msid": msid,
                              "headers": HEADERS.format(e=e), "payload": PAYLOAD.format(e=e),
                              "success": True, "response": "ok", "start_time": now,
                              "end_time": now})
            conn.execute(insert(WebhookDelivery), batch)


def top_up_hot(s: Stack, data: Data, msid: int) -> int:
    """Give the hot webhook its rows back (a cleanup pass trimmed them); returns how many."""
    missing = data.hot_rows - s.count(WebhookDelivery, WebhookDelivery.webhook_id == data.hot_id)
    if missing > 0:
        _insert_rows(s, [data.hot_id] * missing, data.event_ids, msid, random.Random(missing))
    return max(0, missing)


def populate(s: Stack, webhooks: int, rows: int, msid: int) -> Data:
    """Bulk insert of the webhooks, 1000 events and the history rows."""
    now = datetime.utcnow().replace(microsecond=0)
    uuids = [str(uuid.uuid4()) for _ in range(webhooks)]
    with s.engine.begin() as conn:
        for start in range(0, webhooks, BATCH):
            conn.execute(insert(Webhook), [
                {"uuid": u, "name": f"scale-{start + i}", "description": None,
                 "state": "Disabled", "domain_id": 1, "account_id": 2,
                 "payload_url": f"http://127.0.0.1:9/scale/{start + i}", "secret_key": None,
                 "ssl_verification": False, "scope": "Local", "created": now, "removed": None}
                for i, u in enumerate(uuids[start:start + BATCH])])
        event_uuids = [str(uuid.uuid4()) for _ in range(1000)]
        conn.execute(insert(Event), [
            {"uuid": u, "type": "DOMAIN.CREATE", "state": "Completed",
             "description": "Successfully completed creating Domain", "user_id": 2,
             "account_id": 2, "domain_id": 1, "resource_id": None, "resource_type": "Domain",
             "created": now, "level": "INFO", "start_id": 0, "parameters": None,
             "archived": False, "display": True} for u in event_uuids])
    with s.tx() as db:
        hook_ids = [h for (h,) in db.query(Webhook.id).filter(Webhook.name.like("scale-%"))
                    .order_by(Webhook.id)]
        event_ids = [e for (e,) in db.query(Event.id).filter(Event.uuid.in_(event_uuids))]
    hot = hook_ids[0]
    hot_rows = int(rows * HOT_SHARE)
    plan = [hot if n < hot_rows else hook_ids[1 + n % (len(hook_ids) - 1)]
            for n in range(rows)]
    _insert_rows(s, plan, event_ids, msid, random.Random(7))
    return Data(uuids[0], uuids[len(uuids) // 2], hot, hot_rows, event_ids)


def list_latencies(api: ApiClient, path: str, n: int = LIST_REQUESTS) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _body = api.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert status == 200, _body[:300]
    return out


class Cleanup:
    def __init__(self, url: str) -> None:
        self.started = time.time()
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "bench.cleanup_runner", "--database-url", url], cwd=ROOT,
            env=child_env(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        self.process.stdout.readline()  # "started"
        self.started = time.time()

    summary: dict[str, float] | None = None

    def stop(self) -> dict[str, float] | None:
        """The pass's summary if it finished, else None (it is ended)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        elif self.summary is None:
            assert self.process.stdout is not None
            self.summary = dict(json.loads(self.process.stdout.read().strip().splitlines()[-1]))
        return self.summary


def window(s: Stack, rx: Receiver, api: ApiClient, tag: str, seconds: float,
           cleanup: Cleanup | None = None) -> tuple[float, float]:
    """(deliveries/s the receiver got, seconds measured) during `seconds` of as-fast-as-
    possible events; with `cleanup`, only while its pass ran (it is ended at the end)."""
    paths = domain_events(api, tag, int(400 * seconds))
    rx.reset()
    t0 = time.time()
    burst(drivers(s), paths, seconds)
    end = t0 + seconds
    if cleanup is not None:
        summary = cleanup.stop()
        if summary is not None:  # it finished inside the window
            end = min(end, cleanup.started + summary["seconds"])
    got = sum(1 for t, *_rest in rx.records() if t0 <= t <= end)
    purge_queue(s)
    settle(s)
    return got / max(end - t0, 0.001), end - t0


def measure(args: argparse.Namespace, backend: str) -> Report:
    rows = int(FULL_ROWS * args.scale)
    hooks = max(10, int(FULL_WEBHOOKS * args.scale))
    seconds = args.seconds
    rep = Report(f"scale-{backend}", f"5. Scale ({backend}, --scale {args.scale:g})", args.runs)
    rx = Receiver()
    try:
        with stack(backend, {"webhook.dispatch.history.limit": str(HISTORY_LIMIT)}) as s:
            t0 = time.monotonic()
            data = populate(s, hooks, rows, msid=9001)
            rep.notes.append(
                f"{rows:,} history rows ({HOT_SHARE:.0%} on one hot webhook, the rest spread "
                f"over {hooks - 1:,} others), {hooks:,} webhooks; bulk insert took "
                f"{time.monotonic() - t0:.0f} s. History limit {HISTORY_LIMIT}; cleanup in a "
                f"process of its own; throughput windows of {seconds:g} s (createDomain "
                "events, fan-out 1, from 4 connections); the window with cleanup counts only "
                "while the pass runs. Before each run the hot webhook gets its rows back "
                "(the previous pass trimmed them), untimed.")
            s.start()
            api = s.client()
            api.ok("createWebhook", name="scale-live", payloadurl=rx.url("/s"),
                   secretkey=SECRET)
            window(s, rx, api, "warm", 2)
            hot_path = api.signed_path("listWebhookDeliveries", webhookid=data.hot_uuid, page=1,
                                       pagesize=20)
            typical_path = api.signed_path("listWebhookDeliveries", webhookid=data.typical_uuid,
                                           page=1,
                                           pagesize=20)
            hooks_path = api.signed_path("listWebhooks", page=1, pagesize=20)
            for run in range(args.runs):
                top_up_hot(s, data, msid=9001)
                for name, path, target in (
                        ("listWebhookDeliveries, hot webhook", hot_path, "<= 20"),
                        ("listWebhookDeliveries, typical webhook", typical_path, ""),
                        ("listWebhooks page 1 of all", hooks_path, "")):
                    lat = list_latencies(api, path)
                    rep.figure(f"{name}: p99", "ms", target,
                               info=not target).values.append(percentile(lat, 99))
                    rep.figure(f"{name}: p50", "ms", info=True).values.append(
                        percentile(lat, 50))
                quiet, _ = window(s, rx, api, f"q{run}", seconds)
                before = s.count(WebhookDelivery)
                job = Cleanup(s.url)
                busy, measured = window(s, rx, api, f"c{run}", seconds, job)
                summary = job.summary
                removed = before - s.count(WebhookDelivery)
                rep.figure("deliveries/s during cleanup / without", "x",
                           ">= 0.8").values.append(busy / quiet)
                rep.figure("deliveries/s without cleanup", "/s", info=True).values.append(quiet)
                rep.figure("deliveries/s during cleanup", "/s", info=True).values.append(busy)
                rep.figure("history rows the cleanup removed during the window", "rows",
                           info=True).values.append(removed)
                rep.figure("seconds of the window with the pass running", "s",
                           info=True).values.append(measured)
                print(f"  run {run}: {quiet:.0f}/s quiet, {busy:.0f}/s with cleanup "
                      f"(removed {removed}{', pass done' if summary else ''})", flush=True)
    finally:
        rx.close()
    return rep


def run(args: argparse.Namespace) -> list[Report]:
    return [measure(args, backend) for backend in args.backends or ("mysql",)]

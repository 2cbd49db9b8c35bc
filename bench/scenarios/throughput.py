"""Scenario 1, dispatch throughput.

Events go through the real API (createDomain, signed, from DRIVER_CONNECTIONS keep-alive
connections) and the event bus into the dispatcher, fanned out to 1 or 10 webhooks on the
loopback receiver, history persisted. csapi's rate is deliveries / (first API call -> last
delivery both received and in the history). Baseline, in the same run right before: the same
number of posts through `csapi.webhooks.sender.post` from a gevent process of its own at the
dispatcher's pool size, to the same receiver. Target: csapi >= 0.6 x baseline.
"""

from __future__ import annotations

import argparse

from bench.common import Report
from bench.load import burst, wait_until
from bench.scenarios.shared import (
    baseline_posts,
    create_webhooks,
    deliveries,
    domain_events,
    drivers,
    set_enabled,
    settle,
)
from bench.stack import Receiver, stack

FANOUTS = (1, 10)
POOL_SIZE = 5  # webhook.dispatch.thread.pool.size default; the baseline uses the same


def measure(args: argparse.Namespace, backend: str) -> Report:
    total = args.deliveries
    rep = Report(f"throughput-{backend}", f"1. Dispatch throughput ({backend})", args.runs)
    rep.notes += [
        f"{total} deliveries per measurement; event source createDomain (one DOMAIN.CREATE "
        f"event per call) from 4 keep-alive API connections; dispatcher pool {POOL_SIZE} "
        "(default); webhooks with a secret (signed); history persisted (the rate counts a "
        "delivery once it is in webhook_delivery).",
        "Baseline: the same count of posts through csapi.webhooks.sender.post with "
        f"{POOL_SIZE} greenlets in a gevent process of its own, to the same receiver.",
    ]
    rx = Receiver()
    try:
        with stack(backend) as s:
            s.start()
            api = s.client()
            hooks = create_webhooks(api, [rx.url(f"/t{i}") for i in range(max(FANOUTS))], "tp")
            clients = drivers(s)
            # Warm-up: connections, caches, the first rows of each table.
            burst(clients, domain_events(api, "warm", 50), 60)
            settle(s)
            for run in range(args.runs):
                for fanout in FANOUTS:
                    set_enabled(api, hooks, fanout)
                    settle(s)
                    base = baseline_posts(rx.url("/baseline"), total, POOL_SIZE)
                    base_rate = base["ok"] / base["seconds"]
                    events = total // fanout
                    paths = domain_events(api, f"tp{run}-{fanout}", events)
                    before = deliveries(s)
                    rx.reset()
                    log = burst(clients, paths, 300)
                    expected = events * fanout
                    end = wait_until(lambda e=expected, b=before: rx.count() >= e
                                     and deliveries(s) - b >= e, 300)
                    rate = expected / (end - log.first)
                    calls = log.ok / (log.last_answer - log.first)
                    if log.errors:
                        rep.notes.append(f"run {run} fan-out {fanout}: {len(log.errors)} API "
                                         f"errors, e.g. {log.errors[0]}")
                    rep.figure(f"fan-out {fanout}: csapi / baseline deliveries/s", "x",
                               ">= 0.6").values.append(rate / base_rate)
                    rep.figure(f"fan-out {fanout}: csapi deliveries/s", "/s",
                               info=True).values.append(rate)
                    rep.figure(f"fan-out {fanout}: baseline posts/s", "/s",
                               info=True).values.append(base_rate)
                    rep.figure(f"fan-out {fanout}: API calls/s during the burst", "/s",
                               info=True).values.append(calls)
                    print(f"  run {run} fan-out {fanout}: csapi {rate:.0f}/s, baseline "
                          f"{base_rate:.0f}/s, ratio {rate / base_rate:.2f}", flush=True)
    finally:
        rx.close()
    return rep


def run(args: argparse.Namespace) -> list[Report]:
    return [measure(args, backend) for backend in args.backends or ("sqlite", "mysql")]

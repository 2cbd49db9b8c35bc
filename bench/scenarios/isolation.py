"""Scenario 3, isolation from a black-hole receiver.

Two webhooks of the root admin: A (filter: DOMAIN.CREATE) on a healthy receiver path, B
(filter: USER.UPDATE) on a path that never answers (webhook.delivery.timeout 2 s, tries at
the default 3). The driver alternates createDomain and updateUser, so half of the events go to
the black hole. Each run measures A twice, once with B pointing at a healthy path and once at
the black hole: A's deliveries/s under a burst (as fast as the driver goes), and A's latency at
a steady load of --iso-rate events/s. Targets: with/without >= 0.8 (deliveries/s), p99 within
2x.
"""

from __future__ import annotations

import argparse
import math

from bench.common import Report, percentile
from bench.load import CallLog, Marker, burst, domain_marker, no_marker, steady, wait_until
from bench.scenarios.latency import STEADY_CONNECTIONS, latencies
from bench.scenarios.shared import (
    SECRET,
    drivers,
    purge_queue,
    settle,
)
from bench.stack import ApiClient, Receiver, Stack, stack

BURST_EVENTS = 800  # per burst, half of them to A


def alternating(api: ApiClient, user_id: str, tag: str, n: int) -> list[tuple[str, Marker]]:
    out: list[tuple[str, Marker]] = []
    for i in range(n):
        if i % 2 == 0:
            out.append((api.signed_path("createDomain", name=f"{tag}-{i}"), domain_marker))
        else:
            out.append((api.signed_path("updateUser", id=user_id, firstname=f"{tag}-{i}"),
                        no_marker))
    return out


def a_rate(rx: Receiver, log: CallLog, a_path: str, timeout: float = 120.0) -> float:
    expected = len(log.starts)
    wait_until(lambda: rx.stats()["by_path"].get(a_path, 0) >= expected, timeout, 0.05)
    last = max(t for t, path, _e, _m in rx.records() if path == a_path)
    return expected / (last - log.first)


def measure(args: argparse.Namespace, backend: str) -> Report:
    rep = Report(f"isolation-{backend}", f"3. Isolation from a black hole ({backend})",
                 args.runs)
    rate, seconds = args.iso_rate, args.seconds
    rep.notes += [
        f"Burst: {BURST_EVENTS} calls alternating createDomain (-> A) and updateUser (-> B) "
        f"from 4 connections. Steady: {rate:g} events/s (half to A) for {seconds:g} s. "
        "webhook.delivery.timeout 2 s, tries 3 (default, back to back), pool 5 (default).",
        "Between phases B is pointed back at a healthy path and its backlog drained.",
    ]
    rx = Receiver()
    try:
        with stack(backend, {"webhook.delivery.timeout": "2"}) as s:
            s.start()
            api = s.client()
            user_id = api.ok("listUsers", username="admin")["user"][0]["id"]
            a = api.ok("createWebhook", name="iso-a", payloadurl=rx.url("/a"),
                       secretkey=SECRET)["webhook"]["id"]
            b = api.ok("createWebhook", name="iso-b", payloadurl=rx.url("/b"),
                       secretkey=SECRET)["webhook"]["id"]
            for hook, event in ((a, "DOMAIN.CREATE"), (b, "USER.UPDATE")):
                api.ok("addWebhookFilter", webhookid=hook, mode="Include", matchtype="Exact",
                       value=event)
            clients = drivers(s)
            burst(clients, alternating(api, user_id, "warm", 40), 60)
            settle(s)
            for run in range(args.runs):
                result = {}
                for hole in (False, True):
                    api.ok("updateWebhook", id=b, payloadurl=rx.url("/hole" if hole else "/b"))
                    rx.reset()
                    log = burst(clients, alternating(api, user_id, f"ib{run}{hole}",
                                                     BURST_EVENTS), 300)
                    thr = a_rate(rx, log, "/a")
                    rx.reset()
                    calls = alternating(api, user_id, f"is{run}{hole}", int(rate * seconds))
                    slog = steady(drivers(s, STEADY_CONNECTIONS), calls, rate)
                    lat = latencies(rx, slog, {"/a"})
                    result[hole] = (thr, percentile(lat, 50), percentile(lat, 99))
                    print(f"  run {run} {'black hole' if hole else 'healthy   '}: A "
                          f"{thr:.0f} deliveries/s, p50 {result[hole][1]:.1f} ms, p99 "
                          f"{result[hole][2]:.1f} ms", flush=True)
                    # Back to healthy; what B still owes drains before the next phase.
                    api.ok("updateWebhook", id=b, payloadurl=rx.url("/b"))
                    drain(s)
                (t0, _m0, p0), (t1, m1, p1) = result[False], result[True]
                rep.figure("A deliveries/s, with / without black hole", "x",
                           ">= 0.8").values.append(t1 / t0)
                rep.figure("A p99 latency, with / without black hole", "x",
                           "<= 2").values.append(
                    p1 / p0 if p0 and math.isfinite(p0) else math.nan)  # nan: not met
                rep.figure("A deliveries/s without black hole", "/s",
                           info=True).values.append(t0)
                rep.figure("A deliveries/s with black hole", "/s", info=True).values.append(t1)
                rep.figure("A p99 latency without black hole", "ms", info=True).values.append(p0)
                rep.figure("A p99 latency with black hole", "ms", info=True).values.append(p1)
                rep.figure("A p50 latency with black hole", "ms", info=True).values.append(m1)
    finally:
        rx.close()
    return rep


def drain(s: Stack, timeout: float = 180.0) -> None:
    """Let B's backlog go to the healthy path; if that takes too long, drop what is left."""
    try:
        settle(s, timeout)
    except TimeoutError:
        purge_queue(s)
        settle(s, 60)


def run(args: argparse.Namespace) -> list[Report]:
    return [measure(args, backend) for backend in args.backends or ("sqlite",)]

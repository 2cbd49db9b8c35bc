"""Scenario 2, delivery latency at a steady offered load.

createDomain calls start on a fixed schedule (open loop: --rate events/s for --seconds), each
event fanned out to 5 webhooks on the loopback receiver. Latency = receiver arrival minus the
start of the API call that recorded the event (both time.time() on this machine). A delivery
that has not arrived 60 s after the last call counts as infinitely late. Targets: p50 <= 5 ms,
p99 <= 25 ms. The same is measured at a light load (10% of --rate) for context.
"""

from __future__ import annotations

import argparse
import math
import time

import gevent

from bench.common import Report, percentile
from bench.load import CallLog, steady
from bench.scenarios.shared import (
    create_webhooks,
    domain_events,
    drivers,
    purge_queue,
    settle,
)
from bench.stack import Receiver, Stack, stack

FANOUT = 5
GRACE = 60.0  # seconds after the last call that late deliveries are still awaited
STEADY_CONNECTIONS = 32  # open loop: calls in flight at most (each on its own connection)


def latencies(rx: Receiver, log: CallLog, paths: set[str], since: int = 0,
              grace: float = GRACE, from_answer: bool = False) -> list[float]:
    """Per expected delivery, arrival - call start in ms (inf when it never came). The
    receiver was reset before the load, so everything it counts belongs to it."""
    expected = len(log.starts) * len(paths)
    deadline = log.last_answer + grace
    while time.time() < deadline and rx.count() < expected:
        gevent.sleep(0.1)
    arrivals: dict[tuple[str, str], float] = {}
    for t, path, _event, marker in rx.records(since):
        if path in paths and marker in log.starts:
            arrivals.setdefault((path, marker), t)
    out = []
    for marker, start in (log.answers if from_answer else log.starts).items():
        for path in paths:
            t = arrivals.get((path, marker))
            out.append(math.inf if t is None else (t - start) * 1000)
    return out


def one_load(s: Stack, rx: Receiver, tag: str, rate: float, seconds: float,
             paths: set[str]) -> tuple[list[float], list[float], CallLog]:
    api = s.client()
    calls = domain_events(api, tag, max(1, int(rate * seconds)))
    rx.reset()
    log = steady(drivers(s, STEADY_CONNECTIONS), calls, rate)
    lat = latencies(rx, log, paths)
    lat_answer = latencies(rx, log, paths, grace=0, from_answer=True)
    purge_queue(s)  # a run that overloaded the server leaves a backlog: drop it
    settle(s)
    return lat, lat_answer, log


def measure(args: argparse.Namespace, backend: str) -> Report:
    rep = Report(f"latency-{backend}", f"2. Latency at a steady load ({backend})", args.runs)
    rate, seconds = args.rate, args.seconds
    rep.notes += [
        f"Offered load {rate:g} events/s x {FANOUT} webhooks for {seconds:g} s per run "
        f"(open loop, up to {STEADY_CONNECTIONS} API calls in flight); light load "
        f"{rate / 10:g} events/s. Latency = receiver arrival - API call start.",
        "inf = some deliveries had not arrived 60 s after the last call; their share is "
        "listed as 'late'. A run's leftover backlog is deleted before the next run.",
    ]
    rx = Receiver()
    try:
        with stack(backend) as s:
            s.start()
            api = s.client()
            paths = {f"/l{i}" for i in range(FANOUT)}
            create_webhooks(api, [rx.url(p) for p in sorted(paths)], "lat")
            one_load(s, rx, "warm", 20, 2, paths)
            for run in range(args.runs):
                for label, r in (("", rate), ("light load: ", rate / 10)):
                    lat, lat_answer, log = one_load(s, rx, f"lat{run}-{r:g}", r, seconds,
                                                    paths)
                    late = sum(1 for v in lat if math.isinf(v)) / max(1, len(lat))
                    p50, p99 = percentile(lat, 50), percentile(lat, 99)
                    tgt = not label
                    rep.figure(f"{label}p50 latency", "ms", "<= 5" if tgt else "",
                               info=not tgt).values.append(p50)
                    rep.figure(f"{label}p99 latency", "ms", "<= 25" if tgt else "",
                               info=not tgt).values.append(p99)
                    rep.figure(f"{label}p50 latency from the API answer", "ms",
                               info=True).values.append(percentile(lat_answer, 50))
                    rep.figure(f"{label}p99 latency from the API answer", "ms",
                               info=True).values.append(percentile(lat_answer, 99))
                    rep.figure(f"{label}API call p50 (start to answer)", "ms",
                               info=True).values.append(percentile(
                                   [(log.answers[k] - v) * 1000 for k, v in log.starts.items()],
                                   50))
                    rep.figure(f"{label}late (not delivered within 60 s)", "%",
                               info=True).values.append(late * 100)
                    rep.figure(f"{label}driver start lag, max", "ms",
                               info=True).values.append(log.lag_max * 1000)
                    print(f"  run {run} {label or 'target load: '}p50 {p50:.1f} ms, "
                          f"p99 {p99:.1f} ms, late {late:.1%}, errors {len(log.errors)}",
                          flush=True)
                    if log.errors:
                        rep.notes.append(f"run {run} {label}: {len(log.errors)} API errors, "
                                         f"e.g. {log.errors[0]}")
    finally:
        rx.close()
    return rep


def run(args: argparse.Namespace) -> list[Report]:
    return [measure(args, backend) for backend in args.backends or ("sqlite",)]

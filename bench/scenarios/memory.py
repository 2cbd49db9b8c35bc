"""Scenario 6, memory of the `csapi serve` process (RSS from /proc).

Queue: 100,000 jobs (x --scale) queued for receivers that never answer (20 webhooks on a
black-hole path, createDomain events through the API), RSS sampled every 0.5 s while the queue
fills and for 10 s after. Target: peak RSS < 300 MB.

Drift: a fresh server under a steady load (--mem-rate events/s x 5 webhooks, healthy
receiver, the production cleanup settings), RSS at 1 minute and at 5 minutes (--quick: 20 s
and 60 s). Target: RSS(5 min) <= 1.1 x RSS(1 min).
"""

from __future__ import annotations

import argparse
import time

import gevent

from bench.common import Report
from bench.load import burst, steady
from bench.scenarios.shared import create_webhooks, domain_events, drivers, queued
from bench.stack import Receiver, Stack, rss_mb, stack
from csapi.db.models import WebhookDispatchJob

FULL_JOBS = 100_000
QUEUE_FANOUT = 20
DRIFT_FANOUT = 5
# Production values for the cleanup (the bench default keeps it out of the way).
CLEANUP = {"webhook.deliveries.cleanup.initial.delay": "180"}


class Sampler:
    """RSS of a pid every `interval` seconds, in a greenlet."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.greenlet = gevent.spawn(self._run, interval)

    def _run(self, interval: float) -> None:
        while True:
            self.samples.append((time.monotonic(), rss_mb(self.pid)))
            gevent.sleep(interval)

    def stop(self) -> None:
        self.greenlet.kill()

    @property
    def peak(self) -> float:
        return max(v for _t, v in self.samples)


def queue_run(args: argparse.Namespace, backend: str, run: int) -> tuple[float, float, int,
                                                                           float]:
    jobs = int(FULL_JOBS * args.scale)
    rx = Receiver()
    try:
        with stack(backend) as s:
            server = s.start()
            api = s.client()
            create_webhooks(api, [rx.url(f"/hole{i}") for i in range(QUEUE_FANOUT)], "mem")
            gevent.sleep(1)
            idle = rss_mb(server.pid)
            sampler = Sampler(server.pid)
            t0 = time.monotonic()
            burst(drivers(s), domain_events(api, f"m{run}", jobs // QUEUE_FANOUT), 1800)
            # Until every event is fanned out into jobs (bounded), then 10 s more.
            deadline = time.monotonic() + 300
            while s.count(WebhookDispatchJob) < jobs and time.monotonic() < deadline:
                gevent.sleep(0.5)
            gevent.sleep(10)
            sampler.stop()
            held = s.count(WebhookDispatchJob)
            return idle, sampler.peak, held, time.monotonic() - t0
    finally:
        rx.close()


def drift_run(args: argparse.Namespace, backend: str, run: int) -> tuple[float, float]:
    first, last = (20.0, 60.0) if args.quick else (60.0, 300.0)
    rate = args.mem_rate
    rx = Receiver()
    try:
        with stack(backend, CLEANUP) as s:
            server = s.start()
            api = s.client()
            create_webhooks(api, [rx.url(f"/d{i}") for i in range(DRIFT_FANOUT)], "drift")
            calls = domain_events(api, f"d{run}", int(rate * (last + 2)))
            sampler = Sampler(server.pid, 1.0)
            steady(drivers(s, 16), calls, rate)
            sampler.stop()
            start = sampler.samples[0][0]

            def at(second: float) -> float:
                return min(sampler.samples, key=lambda tv: abs(tv[0] - start - second))[1]

            check_backlog(s, run)
            return at(first), at(last)
    finally:
        rx.close()


def check_backlog(s: Stack, run: int) -> None:
    left = queued(s)
    if left:
        print(f"  run {run}: {left} events/jobs still queued at the end of the steady load "
              "(the load was above capacity)", flush=True)


def measure(args: argparse.Namespace, backend: str) -> Report:
    mode = "quick: 20 s / 60 s" if args.quick else "1 min / 5 min"
    rep = Report(f"memory-{backend}", f"6. Memory ({backend}, {mode})", args.runs)
    jobs = int(FULL_JOBS * args.scale)
    rep.notes += [
        f"Queue: {jobs:,} jobs ({jobs // QUEUE_FANOUT:,} events x {QUEUE_FANOUT} webhooks on a "
        "black hole, default timeout 10 s and tries 3, so the pool of 5 is stuck and "
        "everything else waits in the queue).",
        f"Drift ({mode}): {args.mem_rate:g} events/s x {DRIFT_FANOUT} webhooks, healthy "
        "receiver, cleanup at its production settings.",
    ]
    for run in range(args.runs):
        idle, peak, held, took = queue_run(args, backend, run)
        rep.figure("peak RSS with the queue full", "MiB", "<= 300").values.append(peak)
        rep.figure("RSS right after start (idle)", "MiB", info=True).values.append(idle)
        rep.figure("jobs queued at the end", "jobs", info=True).values.append(held)
        print(f"  run {run}: idle {idle:.0f} MiB, peak {peak:.0f} MiB with {held} jobs queued "
              f"({took:.0f} s)", flush=True)
        r1, r5 = drift_run(args, backend, run)
        rep.figure("RSS at the end / RSS at the first mark", "x", "<= 1.1").values.append(
            r5 / r1)
        rep.figure("RSS at the first mark", "MiB", info=True).values.append(r1)
        rep.figure("RSS at the end", "MiB", info=True).values.append(r5)
        print(f"  run {run}: drift {r1:.0f} -> {r5:.0f} MiB", flush=True)
    return rep


def run(args: argparse.Namespace) -> list[Report]:
    return [measure(args, backend) for backend in args.backends or ("sqlite",)]

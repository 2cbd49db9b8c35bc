"""Load generation against the API, from the (gevent-patched) bench process.

Requests are signed before the clock starts, so the driver spends its time sending. Every
loop is bounded in count and in time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gevent
import gevent.pool
import gevent.queue

from bench.stack import ApiClient

# One call: (start time.time(), status, marker taken from the answer (e.g. the new id)).
Marker = Callable[[bytes], str]


@dataclass
class CallLog:
    starts: dict[str, float] = field(default_factory=dict)  # marker -> start (time.time())
    answers: dict[str, float] = field(default_factory=dict)  # marker -> answer received
    errors: list[str] = field(default_factory=list)
    first: float = 0.0
    last_answer: float = 0.0
    sent: int = 0
    lag_max: float = 0.0  # open loop: how late the most delayed call started

    @property
    def ok(self) -> int:
        return self.sent - len(self.errors)


def domain_marker(data: bytes) -> str:
    """createDomain answers the new domain's id: the event's entityuuid."""
    return str(json.loads(data)["createdomainresponse"]["domain"]["id"])


def no_marker(_data: bytes) -> str:
    return ""


def _call(api: ApiClient, path: str, marker: Marker, log: CallLog) -> None:
    t0 = time.time()
    try:
        status, data = api.get(path)
    except OSError as exc:
        log.errors.append(f"{type(exc).__name__}: {exc}")
        return
    t1 = time.time()
    log.last_answer = max(log.last_answer, t1)
    if status != 200:
        log.errors.append(f"{status}: {data[:200]!r}")
        return
    key = marker(data)
    if key:
        log.starts[key] = t0
        log.answers[key] = t1


def burst(clients: Sequence[ApiClient], paths: Sequence[tuple[str, Marker]],
          max_seconds: float) -> CallLog:
    """Send every path as fast as the clients allow (one call in flight per client)."""
    log = CallLog(first=time.time())
    work: gevent.queue.Queue[tuple[str, Marker]] = gevent.queue.Queue()
    for item in paths:
        work.put(item)
    deadline = time.monotonic() + max_seconds

    def worker(api: ApiClient) -> None:
        while time.monotonic() < deadline:
            try:
                path, marker = work.get_nowait()
            except gevent.queue.Empty:
                return
            log.sent += 1
            _call(api, path, marker, log)

    gevent.joinall([gevent.spawn(worker, api) for api in clients], timeout=max_seconds + 30)
    return log


def steady(clients: Sequence[ApiClient], paths: Sequence[tuple[str, Marker]],
           rate: float) -> CallLog:
    """Open loop: call i starts at first + i / rate, on whichever client is free (calls wait
    for a client when all are busy; `lag_max` says how late that made them)."""
    log = CallLog(first=time.time() + 0.05)
    free: gevent.queue.Queue[ApiClient] = gevent.queue.Queue()
    for api in clients:
        free.put(api)
    pool = gevent.pool.Pool(len(clients))
    limit = len(paths) / rate + 30  # bounded even if the server stalls

    def one(api: ApiClient, path: str, marker: Marker) -> None:
        try:
            _call(api, path, marker, log)
        finally:
            free.put(api)

    for i, (path, marker) in enumerate(paths):
        due = log.first + i / rate
        wait = due - time.time()
        if wait > 0:
            gevent.sleep(wait)
        if time.time() - log.first > limit:
            log.errors.append("gave up: the time limit of the run passed")
            break
        api = free.get(timeout=limit)
        log.lag_max = max(log.lag_max, time.time() - due)
        log.sent += 1
        pool.spawn(one, api, path, marker)
    pool.join(timeout=60)
    return log


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> float:
    """Poll `check` until it is true; returns time.time() of success, raises on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.time()
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        gevent.sleep(interval)

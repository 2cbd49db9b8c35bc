"""The webhook dispatcher: one per management server (`csapi serve` process).

Events arrive on the in-process bus after their transaction commits; the dispatcher fans each
out into durable jobs (csapi.webhooks.queue), claims due jobs up to the free slots of its gevent
pool, and runs them (csapi.webhooks.delivery). A sweeper picks up what the fast path missed
(events of a server that died, jobs whose lease expired, retries that became due), and one
server at a time trims the history.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import gevent.pool

from csapi import settings
from csapi.db import transaction
from csapi.events import PublishedEvent
from csapi.webhooks import cleanup, delivery, queue

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
# Events younger than this are left to the fast path of the server that recorded them.
SWEEP_GRACE = queue.timedelta(seconds=5)
# At most this share of the pool works for one webhook, so one slow receiver can't starve
# the others.
PER_WEBHOOK_SHARE = 0.5
# Fresh events fanned out per transaction.
FAN_OUT_BATCH = 20
# A job that fails for a reason of ours (not the receiver's) waits 5 s, 10 s, ... up to 5 min.
PUT_ASIDE_BASE = 5.0
PUT_ASIDE_MAX = 300.0
# Workers only ever used for webhooks below their share (see _claim_and_run); none in pools
# too small to spare one.
RESERVED_WORKERS = 1


class Dispatcher:
    def __init__(self, state: Any) -> None:
        self.state = state
        with transaction(state.sessions) as db:
            self.size = max(1, settings.value(db, "webhook.dispatch.thread.pool.size"))
        self.pool = gevent.pool.Pool(self.size)
        self.per_webhook = max(1, int(self.size * PER_WEBHOOK_SHARE))
        self.reserved = RESERVED_WORKERS if self.size > 2 else 0
        self.busy: Counter[int] = Counter()  # webhook id -> jobs in flight here
        # Webhooks whose last try here failed (timeouts, refusals, errors). Together they get
        # at most the pool less the reserved workers: many bad receivers, each within its own
        # share, must not take every worker from the healthy ones.
        self.failing: set[int] = set()
        # Jobs running here, as (id, event id, webhook id): SQLite hands the id of a job just
        # deleted to the next new job, and a new job must not pass for one still running.
        self.inflight: set[tuple[int, int, int]] = set()
        self.fresh_events: deque[int] = deque()
        self.wake = gevent.event.Event()
        self.running = False
        self.orphans = False  # jobs may be held here that no worker runs
        self.configs = delivery.ConfigCache()  # settings per webhook domain, for the workers
        self.recorder = delivery.Recorder(state)  # writes finished jobs in batches
        self.failures: Counter[int] = Counter()  # job id -> unexpected failures here
        self.greenlets: list[gevent.Greenlet] = []

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        with transaction(self.state.sessions) as db:
            # Jobs this server held when it last stopped are not running: hand them back.
            released = queue.release_all(db, self.state.msid)
        if released:
            log.info("released %d webhook jobs held by this server before it restarted",
                     released)
        self.running = True
        self.state.bus.subscribe(self.on_event)
        self.greenlets = [gevent.spawn(self._loop), gevent.spawn(cleanup.run, self.state,
                                                                 lambda: self.running)]

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming; let in-flight attempts finish within the delivery timeout; leave
        everything else queued for the next start."""
        self.running = False
        self.state.bus.unsubscribe(self.on_event)
        self.wake.set()
        if self.greenlets:
            # A round already under way (a claim waiting on the database) ends first, so
            # nothing is claimed or started after this point.
            self.greenlets[0].join(timeout=10)
        if timeout is None:
            try:
                with transaction(self.state.sessions) as db:
                    timeout = float(settings.value(db, "webhook.delivery.timeout")) + 2
            except Exception:  # noqa: BLE001 - the database may be away; use the default
                timeout = 12.0
        self.pool.join(timeout=timeout)
        self.pool.kill(block=True, timeout=1)
        gevent.killall(self.greenlets, block=True, timeout=2)
        # Whatever is still held here (attempts cut short) goes back to the queue.
        with transaction(self.state.sessions) as db:
            queue.release_all(db, self.state.msid)

    # --- event intake ------------------------------------------------------------------------

    def on_event(self, event: PublishedEvent) -> None:
        """Bus subscriber: runs in the request that committed the event; only queues."""
        if event.event_type.startswith("CONFIGURATION."):
            self.configs.clear()  # a setting changed: the next job reads them anew
        if event.category != "ActionEvent" or not event.account_id:
            return
        self.fresh_events.append(event.event_id)
        self.wake.set()

    # --- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        last_sweep = 0.0
        while self.running:
            self.wake.wait(timeout=SWEEP_SECONDS)
            self.wake.clear()
            if not self.running:
                break
            try:
                if self.orphans:
                    self._release_orphans()
                now = gevent.get_hub().loop.now()
                if now - last_sweep >= SWEEP_SECONDS:
                    last_sweep = now
                    with transaction(self.state.sessions) as db:
                        queue.fan_out_pending(db, older_than=SWEEP_GRACE)
                self._claim_and_run(self._fan_out_fresh())
            except Exception:  # noqa: BLE001 - e.g. the database is away; retry next round
                log.warning("webhook dispatch round failed; retrying", exc_info=True)
                # A claim may have committed although its answer was lost: hand back what
                # no worker here runs, instead of leaving it to the lease.
                self.orphans = True
                gevent.sleep(SWEEP_SECONDS)

    def _release_orphans(self) -> None:
        with transaction(self.state.sessions) as db:
            released = queue.release_all(db, self.state.msid,
                                         keep={key[0] for key in self.inflight})
        self.orphans = False
        if released:
            log.info("handed back %d webhook jobs no worker was running", released)

    def _fan_out_fresh(self) -> Claim | None:
        """Fan out the events that arrived since the last round, a batch per transaction.
        Events arriving meanwhile wait for the next round: under a steady stream of events
        the loop must still get to claiming and delivering. Each transaction also claims for
        the workers that are free, so a fresh event costs one commit before its delivery
        starts, not two, and workers are kept busy while a long backlog is fanned out. The
        last claim is returned for _claim_and_run (None when there was nothing to fan out)."""
        pending = len(self.fresh_events)
        first: Claim | None = None
        while pending > 0:
            batch = [self.fresh_events[i] for i in range(min(pending, FAN_OUT_BATCH))]
            with transaction(self.state.sessions) as db:
                for event_id in batch:
                    queue.fan_out_event(db, event_id)
                claim = self._claim(db)
            for _ in batch:
                self.fresh_events.popleft()  # only once their jobs are committed
            pending -= len(batch)
            if pending > 0:
                if claim is not None and self._start_claimed(claim):
                    self.wake.set()  # passed over: the next round looks again
            else:
                first = claim
        if self.fresh_events:
            self.wake.set()
        return first

    def _claim(self, db: Any) -> Claim | None:
        """Due jobs for the free workers, of webhooks below their share (None: no worker is
        free); with their inputs, read in the same transaction."""
        free = self.size - len(self.inflight)
        if free <= 0 or not self.running:
            return None
        saturated = {w for w, n in self.busy.items() if n >= self.per_webhook}
        jobs = self._claim_jobs(db, free, saturated)
        return Claim(free, bool(saturated), jobs, self._read_inputs(db, jobs))

    def _claim_jobs(self, db: Any, limit: int, exclude: set[int]) -> list[queue.ClaimedJob]:
        """Jobs of webhooks not known to fail first; those of failing webhooks only into the
        workers the failing ones may still take (the pool less the reserved workers)."""
        jobs = queue.claim(db, self.state.msid, limit, exclude_webhooks=exclude | self.failing)
        held = sum(n for w, n in self.busy.items() if w in self.failing)
        room = min(limit - len(jobs), self.size - self.reserved - held)
        failing = self.failing - exclude
        if room > 0 and failing:
            jobs += queue.claim(db, self.state.msid, room, exclude_webhooks=exclude,
                                only_webhooks=failing)
        return jobs

    def _heard(self, webhook_id: int, success: bool) -> None:
        if success:
            self.failing.discard(webhook_id)
        else:
            self.failing.add(webhook_id)

    def _claim_and_run(self, first: Claim | None = None) -> None:
        """Start due jobs on the free workers. `first`: a claim already committed this round
        (with the fan-out of fresh events), used before claiming anew."""
        passed_over = False  # due jobs were left alone because their webhook had its share
        # First the jobs of webhooks below their share of the pool ...
        for _ in range(3):
            claim: Claim | None
            if first is not None:
                claim, first = first, None
            else:
                with transaction(self.state.sessions) as db:
                    claim = self._claim(db)
            if claim is None:
                break
            passed_over = self._start_claimed(claim) or passed_over
            if len(claim.jobs) < claim.free:
                break  # nothing more is due for webhooks below their share
        else:
            if self.size - len(self.inflight) > 0:
                self.wake.set()  # more may be due: another round soon
        # ... then, so that workers don't idle while work waits, anything due, but keeping
        # one worker free: a webhook over its share may be stuck on timeouts, and the next
        # event for another webhook must not wait behind it.
        free = self.size - len(self.inflight) - self.reserved
        if passed_over and free > 0 and self.running:
            with transaction(self.state.sessions) as db:
                jobs = self._claim_jobs(db, free, set())
                inputs = self._read_inputs(db, jobs)
            for job in jobs:
                if job.id not in inputs or inputs[job.id] is not None:  # None: dropped
                    self._start(job, inputs.get(job.id))

    def _start_claimed(self, claim: Claim) -> bool:
        """Start a claim's jobs; hand back those of webhooks that reached their share
        meanwhile. True when due jobs were passed over for that reason."""
        surplus = []
        for job in claim.jobs:
            if self.busy[job.webhook_id] >= self.per_webhook:
                surplus.append(job.id)
            elif job.id not in claim.inputs or claim.inputs[job.id] is not None:  # None: dropped
                self._start(job, claim.inputs.get(job.id))
        if surplus:
            with transaction(self.state.sessions) as db:
                queue.release(db, surplus, self.state.msid)
        return claim.passed_over or bool(surplus)

    def _read_inputs(self, db: Any, jobs: list[queue.ClaimedJob]
                     ) -> dict[int, delivery.JobInputs | None]:
        """Inputs of the claimed jobs, in the claim's transaction; not for a job a worker
        here still runs (re-claimed after its lease ran out), which is left alone."""
        fresh = [job for job in jobs if _key(job) not in self.inflight]
        return delivery.read_inputs(db, self.state, fresh, self.configs)

    def _start(self, job: queue.ClaimedJob, inputs: delivery.JobInputs | None = None) -> None:
        if _key(job) in self.inflight:
            return  # re-claimed after its lease ran out while a worker here still runs it
        self.inflight.add(_key(job))
        self.busy[job.webhook_id] += 1
        self.pool.spawn(self._run, job, inputs)

    def _run(self, job: queue.ClaimedJob, inputs: delivery.JobInputs | None = None) -> None:
        due_in = None
        try:
            due_in = delivery.run_job(
                self.state, job, keep_going=lambda: self.running, configs=self.configs,
                recorder=self.recorder, prefetched=inputs,
                on_attempt=lambda ok: self._heard(job.webhook_id, ok))
        except Exception as exc:  # noqa: BLE001 - the job must not be lost, nor spin
            log.exception("webhook job %s failed unexpectedly", job.id)
            due_in = self._put_aside(job, exc)
        finally:
            self.inflight.discard(_key(job))
            self.busy[job.webhook_id] -= 1
            if self.busy[job.webhook_id] <= 0:
                del self.busy[job.webhook_id]
            self.wake.set()
        if due_in is not None and self.running:
            # Its next try: look again the moment it is due rather than at the next sweep.
            # (Refresh the loop's cached clock first, or the timer fires early.)
            gevent.get_hub().loop.update_now()
            gevent.spawn_later(due_in + 0.02, self.wake.set)

    def _put_aside(self, job: queue.ClaimedJob, exc: Exception) -> float | None:
        """Hand a job that failed for a reason of ours back for a later try, later each time
        it fails again (it would otherwise be re-sent in a tight loop); if even that fails,
        the next round hands it back."""
        self.failures[job.id] += 1
        delay = min(PUT_ASIDE_MAX, PUT_ASIDE_BASE * 2 ** (self.failures[job.id] - 1))
        try:
            with transaction(self.state.sessions) as db:
                queue.retry_later(db, job, self.state.msid, attempts=job.attempts,
                                  delay=delay, response=f"Failed due to : {type(exc).__name__}",
                                  start=job.last_start or queue.utcnow())
            return delay
        except Exception:  # noqa: BLE001 - e.g. the database is still away
            self.orphans = True
            return None


@dataclass(frozen=True)
class Claim:
    free: int  # workers free when it was made
    passed_over: bool  # webhooks at their share were left out
    jobs: list[queue.ClaimedJob]
    inputs: dict[int, delivery.JobInputs | None]


def _key(job: queue.ClaimedJob) -> tuple[int, int, int]:
    return (job.id, job.event_id, job.webhook_id)


def factory(state: Any) -> Dispatcher:
    return Dispatcher(state)

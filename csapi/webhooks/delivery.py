"""Making deliveries: the signed request, the tries, the recorded result.

Used by the dispatcher's workers for queued jobs and, synchronously, by
`executeWebhookDelivery` for tests and redeliveries.
"""

from __future__ import annotations

import logging
import random
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import gevent
import gevent.event
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from csapi import settings
from csapi.db import transaction
from csapi.db.models import (
    Account,
    DomainDetail,
    Event,
    ManagementServer,
    Webhook,
    WebhookDelivery,
)
from csapi.webhooks import queue, sender
from csapi.webhooks.matching import ancestor_domain_ids
from csapi.webhooks.policy import DestinationPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")

TEST_EVENT = "TEST.WEBHOOK"
DEFAULT_TEST_BODY = '{ "CloudStack": "works!" }'


_CONFIG_ROWS = (
    "webhook.delivery.tries", "webhook.delivery.timeout", "webhook.signature.encoding",
    "webhook.delivery.standard.headers", "webhook.delivery.retry.backoff",
    "webhook.delivery.allow.http", "webhook.delivery.allow.redirects",
    "webhook.delivery.blocklist", "webhook.delivery.block.local.addresses",
    "enable.domain.settings.for.child.domain",
)


@dataclass(frozen=True)
class DeliveryConfig:
    """The settings that govern one webhook's deliveries (read from its domain)."""

    tries: int
    timeout: float
    encoding: str
    standard_headers: bool
    backoff: float
    policy: DestinationPolicy

    @classmethod
    def for_domain(cls, db: Session, domain_id: int) -> DeliveryConfig:
        # One query loads every global row these lookups fall back to; settings.value then
        # finds them in the session instead of asking once per setting.
        settings.preload(db, _CONFIG_ROWS)
        # Most domains override none of these: then every value is the global one, and the
        # per-setting domain lookups (with their walk up the tree) can be skipped.
        scoped = db.scalar(select(DomainDetail.id).where(
            DomainDetail.domain_id.in_(ancestor_domain_ids(db, domain_id)),
            DomainDetail.name.in_(_CONFIG_ROWS)).limit(1)) is not None

        def v(name: str) -> Any:
            return settings.value(db, name, domain_id=domain_id if scoped else None)

        return cls(
            tries=max(1, v("webhook.delivery.tries")),
            timeout=max(1.0, float(v("webhook.delivery.timeout"))),
            encoding=v("webhook.signature.encoding"),
            standard_headers=v("webhook.delivery.standard.headers"),
            backoff=max(0.0, float(v("webhook.delivery.retry.backoff"))),
            policy=DestinationPolicy.from_settings(
                allow_http=v("webhook.delivery.allow.http"),
                allow_redirects=v("webhook.delivery.allow.redirects"),
                blocklist=v("webhook.delivery.blocklist"),
                block_local_addresses=settings.value(
                    db, "webhook.delivery.block.local.addresses"),
            ),
        )


# How long a webhook domain's DeliveryConfig is reused before it is read again. Changes made
# through this server's API clear the cache at once (the dispatcher watches CONFIGURATION.*
# events); changes made through another server are seen within this time.
CONFIG_TTL = 1.0


class ConfigCache:
    """DeliveryConfig per domain id for the dispatcher's workers: reading it costs several
    queries and rebuilding the destination policy, for every job."""

    def __init__(self, ttl: float = CONFIG_TTL) -> None:
        self.ttl = ttl
        self._entries: dict[int, tuple[float, DeliveryConfig]] = {}
        self._generation = 0

    def get(self, db: Session, domain_id: int) -> DeliveryConfig:
        now = time.monotonic()
        hit = self._entries.get(domain_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        generation = self._generation
        config = DeliveryConfig.for_domain(db, domain_id)
        if generation == self._generation:  # not cleared while we were reading
            self._entries[domain_id] = (now, config)
        return config

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()


@dataclass(frozen=True)
class Target:
    url: str
    secret: str | None
    ssl_verify: bool


def build_headers(*, event_uuid: str, event_type: str, account_uuid: str, body: bytes,
                  secret: str | None, config: DeliveryConfig) -> dict[str, str]:
    """CloudStack's headers in CloudStack's order, then the Standard Webhooks ones."""
    headers = {
        "X-CS-Event-ID": event_uuid,
        "X-CS-Event": event_type,
        "User-Agent": f"CS-Hookshot/{account_uuid}",
    }
    if secret:
        sign = sender.sign_base64 if config.encoding == "base64" else sender.sign_hex
        headers["X-CS-Signature"] = sign(secret, body)
        if config.standard_headers:
            ts = int(time.time())
            headers["webhook-id"] = event_uuid
            headers["webhook-timestamp"] = str(ts)
            headers["webhook-signature"] = sender.standard_webhooks_signature(
                secret, event_uuid, ts, body)
    return headers


@dataclass
class Outcome:
    headers: str
    success: bool
    response: str
    start: datetime
    end: datetime


def attempt_once(target: Target, body: bytes, *, event_uuid: str, event_type: str,
                 account_uuid: str, config: DeliveryConfig) -> Outcome:
    headers = build_headers(event_uuid=event_uuid, event_type=event_type,
                            account_uuid=account_uuid, body=body, secret=target.secret,
                            config=config)
    result = sender.post(target.url, body, headers, timeout=config.timeout,
                         ssl_verify=target.ssl_verify, policy=config.policy)
    return Outcome(sender.recorded_headers(headers, body), result.success, result.response,
                   result.started, result.ended)


def backoff_delay(base: float, attempt: int) -> float:
    """base x 2^(attempt-1), with +/-20% jitter so retries of many jobs spread out."""
    return base * (2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


# How long a worker keeps retrying a database step (the database restarting, a lock held
# elsewhere, connections killed) before it gives up and leaves the job to its lease.
DB_RETRY_SECONDS = 60.0


def _tx(state: Any, step: Callable[[Session], T]) -> T:
    """Run `step` in its own transaction, retrying while the database is unreachable.

    Each step is safe to repeat: the queue's updates and deletes are conditional on this server
    holding the job, so a commit whose answer was lost changes nothing the second time.
    """
    deadline = time.monotonic() + DB_RETRY_SECONDS
    pause = 0.1
    while True:
        try:
            with transaction(state.sessions) as db:
                return step(db)
        except (OperationalError, InterfaceError):
            if time.monotonic() + pause > deadline:
                raise
            log.warning("webhook delivery: database unavailable; retrying", exc_info=True)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


JobInputs = tuple[Target, DeliveryConfig, str, str, str]
_EVENT_COLUMNS = (Event.uuid, Event.type, Account.uuid)


def _inputs_from(db: Session, state: Any, job: queue.ClaimedJob, hook: Webhook | None,
                 event: Any, configs: ConfigCache | None) -> JobInputs | None:
    """What a job's tries need, from its webhook row and its event's (uuid, type, owner
    uuid); None when the job was dropped."""
    if hook is None or hook.removed is not None or hook.state != "Enabled" or event is None:
        # Deleted or disabled since the event was fanned out: its queue goes with it.
        queue.drop(db, job.id, state.msid)
        return None
    event_uuid, event_type, owner_uuid = event
    config = (configs.get(db, hook.domain_id) if configs is not None
              else DeliveryConfig.for_domain(db, hook.domain_id))
    if _lease_seconds(config) > queue.CLAIM_LEASE.total_seconds() - 15:
        # The claim's lease may not cover a try at this timeout; renewed before each try.
        queue.extend_lease(db, job.id, state.msid, _lease_seconds(config))
    target = Target(hook.payload_url or "", state.secrets.decrypt(hook.secret_key),
                    bool(hook.ssl_verification))
    return target, config, event_uuid or "", event_type, owner_uuid or ""


def _job_inputs(state: Any, job: queue.ClaimedJob, configs: ConfigCache | None = None,
                ) -> JobInputs | None:
    def read(db: Session) -> JobInputs | None:
        hook = db.get(Webhook, job.webhook_id)
        event = db.execute(select(*_EVENT_COLUMNS)
                           .outerjoin(Account, Account.id == Event.account_id)
                           .where(Event.id == job.event_id)).first()
        return _inputs_from(db, state, job, hook, event, configs)

    return _tx(state, read)


def read_inputs(db: Session, state: Any, jobs: list[queue.ClaimedJob],
                configs: ConfigCache | None = None) -> dict[int, JobInputs | None]:
    """The inputs of freshly claimed jobs, read in the claim's own transaction with two
    queries for all of them (instead of a transaction per job): job id -> inputs, or None
    when the job was dropped. A job missing from the answer (its inputs could not be made,
    e.g. a secret that does not decrypt) reads them itself in run_job, and fails there."""
    if not jobs:
        return {}
    hooks = {h.id: h for h in db.scalars(
        select(Webhook).where(Webhook.id.in_({j.webhook_id for j in jobs})))}
    events = {row[0]: tuple(row[1:]) for row in db.execute(
        select(Event.id, *_EVENT_COLUMNS).outerjoin(Account, Account.id == Event.account_id)
        .where(Event.id.in_({j.event_id for j in jobs})))}
    out: dict[int, JobInputs | None] = {}
    for job in jobs:
        try:
            out[job.id] = _inputs_from(db, state, job, hooks.get(job.webhook_id),
                                       events.get(job.event_id), configs)
        except SQLAlchemyError:
            raise
        except Exception:  # noqa: BLE001 - left to run_job, which puts the job aside
            continue
    return out


def _lease_seconds(config: DeliveryConfig) -> float:
    """Long enough for one try (renewed before the next) and the writes around it."""
    return config.timeout + 30


class Recorder:
    """Group commit of finished jobs for the dispatcher's workers: a worker hands its outcome
    over and waits until it is written; the first one to find no write under way writes
    everything handed over by then in one transaction (each job still conditionally: its
    history row and the job's removal together, only if this server holds it).

    On SQLite a job's id may be handed to the next new job as soon as the batch removed it;
    the dispatcher tells jobs apart by (id, event, webhook), so that is harmless.
    """

    def __init__(self, state: Any) -> None:
        self.state = state
        self._pending: list[tuple[queue.Finished, gevent.event.AsyncResult]] = []
        self._writing = False

    def complete(self, finished: queue.Finished) -> None:
        done = gevent.event.AsyncResult()
        self._pending.append((finished, done))
        if not self._writing:
            self._write_all()
        done.get()  # re-raises what writing this job raised

    def _write_all(self) -> None:
        self._writing = True
        try:
            gevent.sleep(0)  # workers whose answers came in meanwhile join this batch
            while self._pending:
                batch, self._pending = self._pending, []
                self._write(batch)
        except BaseException as exc:  # killed: nobody must wait forever
            for _f, done in self._pending:
                done.set_exception(exc)
            self._pending = []
            raise
        finally:
            self._writing = False

    def _write(self, batch: list[tuple[queue.Finished, gevent.event.AsyncResult]]) -> None:
        msid = self.state.msid

        def write(items: list[queue.Finished]) -> None:
            _tx(self.state, lambda db: queue.complete(db, items, msid))

        try:
            write([f for f, _done in batch])
        except Exception as exc:  # noqa: BLE001 - handed to the waiting workers
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            # One bad row must not fail the others: each in a transaction of its own.
            for finished, done in batch:
                try:
                    write([finished])
                except Exception as one:  # noqa: BLE001 - handed to its worker
                    done.set_exception(one)
                else:
                    done.set(None)
            return
        except BaseException as exc:  # killed while writing: nobody must wait forever
            for _f, done in batch:
                done.set_exception(exc)
            raise
        for _f, done in batch:
            done.set(None)


def run_job(state: Any, job: queue.ClaimedJob,
            keep_going: Callable[[], bool] = lambda: True,
            configs: ConfigCache | None = None,
            recorder: Recorder | None = None,
            prefetched: JobInputs | None = None,
            on_attempt: Callable[[bool], None] | None = None) -> float | None:
    """Make the job's remaining tries; record the delivery or hand the job back for later.

    Returns the seconds until the job is due again when it was handed back (retry backoff,
    or the server stopping between tries), else None. `keep_going` turning false (the server
    stops) ends the job after the try in flight; the tries left stay queued. `configs`
    caches the settings between jobs (the dispatcher's); without it they are read anew.
    `recorder` writes the result together with other workers' (else in a transaction of its
    own). `prefetched`: the job's inputs, already read with its claim (read_inputs).
    `on_attempt` hears whether each try succeeded (the dispatcher tracks failing webhooks).
    """
    inputs = prefetched if prefetched is not None else _job_inputs(state, job, configs)
    if inputs is None:
        return None
    target, config, event_uuid, event_type, account_uuid = inputs
    body = job.payload.encode("utf-8")
    attempt = job.attempts
    while True:
        attempt += 1
        outcome = attempt_once(target, body, event_uuid=event_uuid, event_type=event_type,
                               account_uuid=account_uuid, config=config)
        if on_attempt is not None:
            on_attempt(outcome.success)
        if outcome.success or attempt >= config.tries:
            break
        stopping = not keep_going()
        if config.backoff > 0 or stopping:
            delay = 0.0 if stopping else backoff_delay(config.backoff, attempt)
            due = _tx(state, partial(queue.retry_later, job=job, msid=state.msid,
                                     attempts=attempt, delay=delay,
                                     response=outcome.response, start=outcome.start))
            return max((due - datetime.utcnow()).total_seconds(), 0.0)
        _tx(state, lambda db: queue.extend_lease(db, job.id, state.msid,
                                                 _lease_seconds(config)))
    finished = queue.Finished(job, outcome.headers, outcome.success, outcome.response,
                              outcome.start, outcome.end)
    if recorder is not None:
        recorder.complete(finished)
    else:
        _tx(state, lambda db: queue.complete(db, [finished], state.msid))
    return None


# --- executeWebhookDelivery -------------------------------------------------------------


def _ms_fields(db: Session, msid: int) -> dict[str, Any]:
    ms = db.scalar(select(ManagementServer).where(ManagementServer.msid == msid))
    return {"managementserverid": ms.uuid if ms else None,
            "managementservername": ms.name if ms else None}


def execute_now(
    ctx: Any,
    *,
    delivery: WebhookDelivery | None = None,
    webhook: Webhook | None = None,
    payload_url: str | None = None,
    secret: str | None = None,
    ssl_verification: bool | None = None,
    payload: str | None = None,
) -> dict[str, Any]:
    """Deliver now, synchronously, with every try; returns the `webhookdelivery` view.

    Redelivery (`delivery`): the stored payload again, with the stored event's id and type,
    to the webhook's current URL and secret; a new history row. Test (no `delivery`): a
    `TEST.WEBHOOK` request to the webhook (overridable in memory) or to an ad-hoc URL; not
    stored.
    """
    db = ctx.db
    if delivery is not None:
        webhook = db.get(Webhook, delivery.webhook_id)
        event = db.get(Event, delivery.event_id)
        assert webhook is not None and event is not None
        owner = db.get(Account, event.account_id)
        body_text = delivery.payload or ""
        event_uuid, event_type = event.uuid or "", event.type
        account_uuid = owner.uuid if owner else ""
    else:
        body_text = payload if payload and payload.strip() else DEFAULT_TEST_BODY
        event_uuid, event_type = str(uuidlib.uuid4()), TEST_EVENT
        owner = db.get(Account, webhook.account_id) if webhook is not None else ctx.account
        account_uuid = owner.uuid if owner else ""
    stored_secret = (ctx.state.secrets.decrypt(webhook.secret_key)
                     if webhook is not None and webhook.secret_key else None)
    target = Target(
        url=payload_url or (webhook.payload_url if webhook is not None else "") or "",
        secret=secret if secret and secret.strip() else stored_secret,
        ssl_verify=bool(ssl_verification if ssl_verification is not None else
                        (webhook.ssl_verification if webhook is not None else False)),
    )
    domain_id = webhook.domain_id if webhook is not None else ctx.account.domain_id
    config = DeliveryConfig.for_domain(db, domain_id)
    body = body_text.encode("utf-8")
    for _ in range(config.tries):
        outcome = attempt_once(target, body, event_uuid=event_uuid, event_type=event_type,
                               account_uuid=account_uuid, config=config)
        if outcome.success:
            break
    view = {
        "id": str(uuidlib.uuid4()), "eventid": None, "eventtype": event_type,
        "webhookid": webhook.uuid if webhook is not None else str(uuidlib.uuid4()),
        "webhookname": webhook.name if webhook is not None else "Test",
        **_ms_fields(db, ctx.state.msid),
        "headers": outcome.headers, "payload": body_text, "success": outcome.success,
        "response": queue.fit_text(outcome.response), "startdate": outcome.start,
        "enddate": outcome.end,
    }
    if delivery is not None:
        row = WebhookDelivery(
            uuid=view["id"], event_id=delivery.event_id, webhook_id=delivery.webhook_id,
            mshost_msid=ctx.state.msid, headers=queue.fit_text(outcome.headers),
            payload=body_text, success=outcome.success,
            response=queue.fit_text(outcome.response), start_time=outcome.start,
            end_time=outcome.end)
        db.add(row)
        db.flush()
        view["eventid"] = event_uuid
    return view


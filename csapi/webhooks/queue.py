"""The durable delivery queue: fan-out of events into jobs, claiming with leases, completion.

Every state change is a short transaction. A job is claimed by one management server at a time
(`FOR UPDATE SKIP LOCKED` on MySQL/MariaDB; SQLite serializes writers, and the conditional
UPDATE ... RETURNING makes the claim atomic there). A job is deleted in the same transaction
that writes its `webhook_delivery` row, and only by the server that holds it, so no delivery is
recorded twice while a lease is alive.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from csapi.db.models import (
    Event,
    WebhookDelivery,
    WebhookDispatchEvent,
    WebhookDispatchJob,
)
from csapi.webhooks.matching import matching_webhooks

CLAIM_LEASE = timedelta(seconds=60)
# MySQL/MariaDB TEXT holds 65,535 bytes; longer values are refused, not cut.
TEXT_BYTES = 65535


def fit_text(value: str, limit: int = TEXT_BYTES) -> str:
    """`value` cut to at most `limit` UTF-8 bytes, never inside a character."""
    raw = value.encode("utf-8")
    if len(raw) <= limit:
        return value
    return raw[:limit].decode("utf-8", errors="ignore")


def utcnow() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


def _fan_out_row(db: Session, row: WebhookDispatchEvent) -> int:
    """Turn one pending event into jobs; 0 when another server took it first."""
    taken: Any = db.execute(delete(WebhookDispatchEvent).where(WebhookDispatchEvent.id == row.id))
    if taken.rowcount != 1:
        return 0
    event = db.execute(select(Event.account_id, Event.domain_id, Event.type)
                       .where(Event.id == row.event_id)).first()
    if event is None:
        return 0
    now = utcnow()
    hooks = matching_webhooks(db, account_id=event.account_id, domain_id=event.domain_id,
                              event_type=event.type)
    if hooks:  # one multi-row INSERT, without the ORM's per-object bookkeeping
        db.execute(insert(cast(Table, WebhookDispatchJob.__table__)), [
            {"event_id": row.event_id, "webhook_id": hook.id, "payload": row.payload,
             "attempts": 0, "next_attempt": now, "created": now} for hook in hooks])
    return len(hooks)


def fan_out_event(db: Session, event_id: int) -> int:
    """Fast path, right after the event's transaction committed on this server."""
    row = db.scalar(select(WebhookDispatchEvent).where(WebhookDispatchEvent.event_id == event_id))
    return _fan_out_row(db, row) if row is not None else 0


def fan_out_pending(db: Session, *, older_than: timedelta, limit: int = 200) -> int:
    """Sweep: events whose fast path never ran (a server died, or it was another server's)."""
    cutoff = utcnow() - older_than
    stmt = (select(WebhookDispatchEvent).where(WebhookDispatchEvent.created <= cutoff)
            .order_by(WebhookDispatchEvent.id).limit(limit))
    if db.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True)
    return sum(_fan_out_row(db, row) for row in db.scalars(stmt).all())


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    event_id: int
    webhook_id: int
    payload: str
    attempts: int
    last_response: str | None
    last_start: datetime | None


_CLAIMED = (WebhookDispatchJob.id, WebhookDispatchJob.event_id, WebhookDispatchJob.webhook_id,
            WebhookDispatchJob.payload, WebhookDispatchJob.attempts,
            WebhookDispatchJob.last_response, WebhookDispatchJob.last_start)


def claim(db: Session, msid: int, limit: int, *, exclude_webhooks: AbstractSet[int] = frozenset(),
          only_webhooks: AbstractSet[int] | None = None) -> list[ClaimedJob]:
    """Claim up to `limit` due jobs for this server (of `only_webhooks`, when given)."""
    if limit <= 0:
        return []
    now = utcnow()
    due = (
        WebhookDispatchJob.next_attempt <= now,
        or_(WebhookDispatchJob.claimed_by.is_(None), WebhookDispatchJob.lease_until < now),
    )
    order = (WebhookDispatchJob.next_attempt, WebhookDispatchJob.id)
    excluded: tuple[Any, ...] = ((WebhookDispatchJob.webhook_id.not_in(exclude_webhooks),)
                                 if exclude_webhooks else ())
    if only_webhooks is not None:
        excluded += (WebhookDispatchJob.webhook_id.in_(only_webhooks),)
    claimed = {"claimed_by": msid, "lease_until": now + CLAIM_LEASE}
    if db.get_bind().dialect.name == "sqlite":
        # Writers are serialized: the conditional UPDATE takes only what is still free.
        ids = list(db.scalars(select(WebhookDispatchJob.id).where(*due, *excluded)
                              .order_by(*order).limit(limit)))
        if not ids:
            return []
        rows: Any = db.execute(update(WebhookDispatchJob).where(
            WebhookDispatchJob.id.in_(ids), *due).values(**claimed).returning(*_CLAIMED)).all()
    else:
        rows = db.execute(select(*_CLAIMED).where(*due, *excluded).order_by(*order)
                          .limit(limit).with_for_update(skip_locked=True)).all()
        if not rows:
            return []
        db.execute(update(WebhookDispatchJob).where(
            WebhookDispatchJob.id.in_([r.id for r in rows])).values(**claimed))
    return [ClaimedJob(*r) for r in sorted(rows, key=lambda r: r.id)]


def extend_lease(db: Session, job_id: int, msid: int, seconds: float) -> bool:
    res: Any = db.execute(update(WebhookDispatchJob).where(
        WebhookDispatchJob.id == job_id, WebhookDispatchJob.claimed_by == msid,
    ).values(lease_until=utcnow() + timedelta(seconds=seconds)))
    return res.rowcount == 1


@dataclass(frozen=True)
class Finished:
    """A job's final outcome, for complete()."""

    job: ClaimedJob
    headers: str
    success: bool
    response: str
    start: datetime
    end: datetime


def complete(db: Session, finished: Sequence[Finished], msid: int) -> set[int]:
    """Record finished jobs and drop them from the queue, one statement for the removals and
    one for the history rows; only jobs this server still holds are recorded. Returns their
    ids."""
    if not finished:
        return set()
    jobs = cast(Table, WebhookDispatchJob.__table__)
    held_here = (jobs.c.id.in_([f.job.id for f in finished]), jobs.c.claimed_by == msid)
    if db.get_bind().dialect.name == "sqlite":
        held = set(db.execute(delete(jobs).where(*held_here).returning(jobs.c.id)).scalars())
    else:
        held = set(db.execute(select(jobs.c.id).where(*held_here).with_for_update()).scalars())
        if held:
            db.execute(delete(jobs).where(jobs.c.id.in_(held)))
    rows = [{"uuid": str(uuidlib.uuid4()), "event_id": f.job.event_id,
             "webhook_id": f.job.webhook_id, "mshost_msid": msid,
             "headers": fit_text(f.headers), "payload": f.job.payload, "success": f.success,
             "response": fit_text(f.response), "start_time": f.start, "end_time": f.end}
            for f in finished if f.job.id in held]
    if rows:
        db.execute(insert(cast(Table, WebhookDelivery.__table__)), rows)
    return held


def due_after(delay: float) -> datetime:
    """The first whole second at least `delay` seconds from now.

    Datetime columns keep whole seconds on MySQL/MariaDB (and claims compare against a
    truncated now), so a due time with a fraction would come due up to a second early.
    """
    exact = datetime.utcnow() + timedelta(seconds=max(delay, 0.0))
    whole = exact.replace(microsecond=0)
    return whole if whole == exact else whole + timedelta(seconds=1)


def retry_later(db: Session, job: ClaimedJob, msid: int, *, attempts: int, delay: float,
                response: str, start: datetime) -> datetime:
    """Give the job back to the queue until its next try is due (no worker waits); returns
    when it is due."""
    due = due_after(delay)
    db.execute(update(WebhookDispatchJob).where(
        WebhookDispatchJob.id == job.id, WebhookDispatchJob.claimed_by == msid,
    ).values(attempts=attempts, next_attempt=due, claimed_by=None, lease_until=None,
             last_response=fit_text(response), last_start=start))
    return due


def drop(db: Session, job_id: int, msid: int) -> None:
    db.execute(delete(WebhookDispatchJob).where(
        WebhookDispatchJob.id == job_id, WebhookDispatchJob.claimed_by == msid))


def release(db: Session, job_ids: list[int], msid: int) -> None:
    db.execute(update(WebhookDispatchJob).where(
        WebhookDispatchJob.id.in_(job_ids), WebhookDispatchJob.claimed_by == msid,
    ).values(claimed_by=None, lease_until=None))


def release_all(db: Session, msid: int, keep: AbstractSet[int] = frozenset()) -> int:
    """Hand back every job this server holds (start-up after a crash, or shutdown)."""
    stmt = update(WebhookDispatchJob).where(WebhookDispatchJob.claimed_by == msid)
    if keep:
        stmt = stmt.where(WebhookDispatchJob.id.not_in(keep))
    result: Any = db.execute(stmt.values(claimed_by=None, lease_until=None))
    return int(result.rowcount)

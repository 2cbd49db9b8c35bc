"""Delivery history cleanup: keep the newest `webhook.dispatch.history.limit` deliveries of
EACH webhook (CloudStack's own cleanup wipes other webhooks' history; we don't copy that bug).

Runs every `webhook.dispatch.history.cleanup.interval` seconds after
`webhook.deliveries.cleanup.initial.delay`, on one management server at a time: the oldest
live one (lowest mshost id with a recent heartbeat), as CloudStack picks the longest-running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import gevent
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from csapi import settings
from csapi.db import transaction
from csapi.db.models import ManagementServer, WebhookDelivery

log = logging.getLogger(__name__)
BATCH = 1000
# Rest after each batch, as a multiple of the time the batch took.
PACE = 1.0


def is_leader(db: Session, msid: int) -> bool:
    fresh = datetime.utcnow() - timedelta(seconds=60)
    leader = db.scalar(
        select(ManagementServer.msid).where(
            ManagementServer.state == "Up", ManagementServer.removed.is_(None),
            ManagementServer.last_update >= fresh,
        ).order_by(ManagementServer.id).limit(1)
    )
    return leader is None or leader == msid


def trim_webhook(db: Session, webhook_id: int, keep: int) -> int:
    """Delete deliveries of one webhook older than its newest `keep`; returns rows removed."""
    threshold = db.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc()).offset(max(keep, 0)).limit(1)
    )
    if threshold is None:
        return 0
    ids = list(db.scalars(
        select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == webhook_id,
                                         WebhookDelivery.id <= threshold).limit(BATCH)))
    if not ids:
        return 0
    result: Any = db.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return int(result.rowcount)


def over_limit(db: Session, keep: int) -> list[int]:
    """Webhooks with more than `keep` deliveries: one pass over the webhook_id index instead
    of a transaction for each of (possibly) thousands of webhooks with nothing to trim."""
    return list(db.scalars(
        select(WebhookDelivery.webhook_id).group_by(WebhookDelivery.webhook_id)
        .having(func.count() > max(keep, 0)).order_by(WebhookDelivery.webhook_id)))


def trim_all(state: Any) -> int:
    """One cleanup pass in small transactions, paced so that deliveries keep flowing: after
    each batch it rests as long as the batch took (its share of the database stays near
    half of one connection, whatever the machine)."""
    with transaction(state.sessions) as db:
        keep = settings.value(db, "webhook.dispatch.history.limit")
        hooks = over_limit(db, keep)
    removed = 0
    for webhook_id in hooks:
        while True:
            started = time.monotonic()
            with transaction(state.sessions) as db:
                n = trim_webhook(db, webhook_id, keep)
            removed += n
            gevent.sleep((time.monotonic() - started) * PACE)
            if n < BATCH:
                break
    return removed


def run(state: Any, running: Callable[[], bool]) -> None:
    with transaction(state.sessions) as db:
        delay = settings.value(db, "webhook.deliveries.cleanup.initial.delay")
        interval = max(1, settings.value(db, "webhook.dispatch.history.cleanup.interval"))
    gevent.sleep(delay)
    while running():
        try:
            with transaction(state.sessions) as db:
                leader = is_leader(db, state.msid)
            if leader:
                removed = trim_all(state)
                if removed:
                    log.info("webhook history cleanup removed %d deliveries", removed)
        except Exception:  # noqa: BLE001 - try again next interval
            log.warning("webhook history cleanup failed", exc_info=True)
        gevent.sleep(interval)

"""Making deliveries: the signed request, the tries, the recorded result.

Used by the dispatcher's workers for queued jobs and, synchronously, by
`executeWebhookDelivery` for tests and redeliveries.
"""

from __future__ import annotations

import random
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from csapi import settings
from csapi.db import transaction
from csapi.db.models import Account, Event, ManagementServer, Webhook, WebhookDelivery
from csapi.webhooks import queue, sender
from csapi.webhooks.policy import DestinationPolicy

TEST_EVENT = "TEST.WEBHOOK"
DEFAULT_TEST_BODY = '{ "CloudStack": "works!" }'


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
        def v(name: str) -> Any:
            return settings.value(db, name, domain_id=domain_id)

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


def _job_inputs(state: Any, job: queue.ClaimedJob
                ) -> tuple[Target, DeliveryConfig, str, str, str] | None:
    with transaction(state.sessions) as db:
        hook = db.get(Webhook, job.webhook_id)
        event = db.get(Event, job.event_id)
        if hook is None or hook.removed is not None or event is None:
            queue.drop(db, job.id, state.msid)
            return None
        owner = db.get(Account, event.account_id)
        config = DeliveryConfig.for_domain(db, hook.domain_id)
        # Long enough for every try left at this timeout; renewed before each try.
        queue.extend_lease(db, job.id, state.msid, config.timeout * 2 + 30)
        target = Target(hook.payload_url or "", state.secrets.decrypt(hook.secret_key),
                        bool(hook.ssl_verification))
        return target, config, event.uuid or "", event.type, owner.uuid if owner else ""


def run_job(state: Any, job: queue.ClaimedJob) -> None:
    """Make the job's remaining tries; record the delivery or hand the job back for later."""
    inputs = _job_inputs(state, job)
    if inputs is None:
        return
    target, config, event_uuid, event_type, account_uuid = inputs
    body = job.payload.encode("utf-8")
    attempt = job.attempts
    while True:
        attempt += 1
        outcome = attempt_once(target, body, event_uuid=event_uuid, event_type=event_type,
                               account_uuid=account_uuid, config=config)
        if outcome.success or attempt >= config.tries:
            break
        if config.backoff > 0:
            with transaction(state.sessions) as db:
                queue.retry_later(db, job, state.msid, attempts=attempt,
                                  delay=backoff_delay(config.backoff, attempt),
                                  response=outcome.response, start=outcome.start)
            return
        with transaction(state.sessions) as db:
            queue.extend_lease(db, job.id, state.msid, config.timeout * 2 + 30)
    with transaction(state.sessions) as db:
        queue.complete(db, job, state.msid, headers=outcome.headers, success=outcome.success,
                       response=outcome.response, start=outcome.start, end=outcome.end)


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
        "response": outcome.response, "startdate": outcome.start, "enddate": outcome.end,
    }
    if delivery is not None:
        row = WebhookDelivery(
            uuid=view["id"], event_id=delivery.event_id, webhook_id=delivery.webhook_id,
            mshost_msid=ctx.state.msid, headers=outcome.headers, payload=body_text,
            success=outcome.success, response=outcome.response, start_time=outcome.start,
            end_time=outcome.end)
        db.add(row)
        db.flush()
        view["eventid"] = event_uuid
    return view


"""listWebhookDeliveries, deleteWebhookDelivery, executeWebhookDelivery (spec §1.6–§1.8).

Unlike CloudStack 4.20–4.23 (PRODUCT.md "Access control"): a caller with no webhooks lists
nothing, a non-root delete only touches deliveries of webhooks the caller may operate (and,
without `id`/`webhookid`, only of its own account's webhooks), execute checks access, and a
delivery whose webhook was removed is still guarded by that webhook's owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, select

from csapi.api.context import CallContext
from csapi.api.errors import InvalidParameterValue
from csapi.api.listing import page_by_id
from csapi.api.params import Params
from csapi.api.registry import (
    ROOT_ONLY,
    Kind,
    ListResult,
    Param,
    SuccessResult,
    command,
)
from csapi.db.models import Event, ManagementServer, Webhook, WebhookDelivery
from csapi.webhooks import access
from csapi.webhooks.views import WEBHOOK_DELIVERY, delivery_view


def _date_params(verb: str) -> list[Param]:
    fmt = '(use format "yyyy-MM-dd" or "yyyy-MM-dd HH:mm:ss")'
    return [
        Param("startdate", "date", description=f"The start date range for the Webhook delivery "
              f"{fmt}. All deliveries having start date equal to or after the specified date "
              f"will be {verb}."),
        Param("enddate", "date", description=f"The end date range for the Webhook delivery "
              f"{fmt}. All deliveries having end date equal to or before the specified date "
              f"will be {verb}."),
    ]


def _common_params(verb: str) -> list[Param]:
    return [
        Param("id", "uuid", description="The ID of the Webhook delivery",
              entity=WebhookDelivery),
        Param("webhookid", "uuid", description="The ID of the Webhook", entity=Webhook),
        Param("managementserverid", "uuid", description="The ID of the management server",
              entity=ManagementServer, authorized=ROOT_ONLY),
        *_date_params(verb),
    ]


def _criteria(ctx: CallContext, p: Params) -> list[ColumnElement[bool]]:
    """basicWebhookDeliveryApiCheck, then the row conditions the parameters ask for."""
    where: list[ColumnElement[bool]] = []
    if p["id"] is not None:
        delivery: WebhookDelivery = p["id"]
        hook = ctx.db.get(Webhook, delivery.webhook_id)
        assert hook is not None  # webhook_delivery.webhook_id has a foreign key
        access.check_webhook_access(ctx, hook)
        where.append(WebhookDelivery.id == delivery.id)
    if p["webhookid"] is not None:
        hook = access.live_webhook(p["webhookid"], "Invalid Webhook specified")
        access.check_webhook_access(ctx, hook)
        where.append(WebhookDelivery.webhook_id == hook.id)
    start: datetime | None = p["startdate"]
    end: datetime | None = p["enddate"]
    if start is not None and end is not None and end < start:
        raise InvalidParameterValue("Invalid enddate specified")
    if p["managementserverid"] is not None:
        where.append(WebhookDelivery.mshost_msid == p["managementserverid"].msid)
    if start is not None:
        where.append(WebhookDelivery.start_time >= start)
    if end is not None:
        where.append(WebhookDelivery.end_time <= end)
    return where


def _webhooks_of(ctx: CallContext, *, own_only: bool = False) -> Select[Any]:
    """Ids of the webhooks whose deliveries a non-root caller may touch."""
    if own_only:
        return select(Webhook.id).where(Webhook.account_id == ctx.account.id)
    return select(Webhook.id).where(access.operable_condition(ctx))


@command(
    "listWebhookDeliveries",
    description="Lists Webhook deliveries",
    params=[
        *_common_params("listed"),
        Param("eventtype", description="The event type of the Webhook delivery"),
    ],
    response=WEBHOOK_DELIVERY,
    kind=Kind.LIST,
    since="4.20.0",
)
def list_webhook_deliveries(ctx: CallContext, p: Params) -> ListResult:
    # The page's ids come from webhook_delivery alone (its webhook_id index); the event,
    # webhook and server rows are joined for those ids only.
    ids: Any = select(WebhookDelivery.id).where(*_criteria(ctx, p))
    if not ctx.is_root_admin:
        ids = ids.where(WebhookDelivery.webhook_id.in_(_webhooks_of(ctx)))
    if p["eventtype"] is not None:
        ids = ids.join(Event, Event.id == WebhookDelivery.event_id).where(
            Event.type == p["eventtype"])
    if p["keyword"]:
        ids = ids.where(WebhookDelivery.payload.like(f"%{p['keyword']}%"))

    def load(keys: list[int]) -> list[Any]:
        return list(ctx.db.execute(
            select(WebhookDelivery, Event, Webhook, ManagementServer)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .outerjoin(ManagementServer, ManagementServer.msid == WebhookDelivery.mshost_msid)
            .where(WebhookDelivery.id.in_(keys)).order_by(WebhookDelivery.id.desc())).all())

    return page_by_id(ctx, p, ids.order_by(WebhookDelivery.id.desc()), load,
                      lambda row: delivery_view(*row))


@command(
    "deleteWebhookDelivery",
    description="Deletes Webhook delivery",
    params=_common_params("considered"),
    response=None,
    since="4.20.0",
)
def delete_webhook_delivery(ctx: CallContext, p: Params) -> SuccessResult:
    where = _criteria(ctx, p)
    stmt = delete(WebhookDelivery).where(*where)
    if not ctx.is_root_admin:
        targeted = p["id"] is not None or p["webhookid"] is not None
        stmt = stmt.where(WebhookDelivery.webhook_id.in_(_webhooks_of(ctx,
                                                                     own_only=not targeted)))
    ctx.db.execute(stmt.execution_options(synchronize_session=False))
    return SuccessResult()


@command(
    "executeWebhookDelivery",
    description="Executes a Webhook delivery",
    params=[
        Param("id", "uuid", description="The ID of the Webhook delivery for redelivery",
              entity=WebhookDelivery),
        Param("webhookid", "uuid", description="The ID of the Webhook", entity=Webhook),
        Param("payloadurl", description="Payload URL of the Webhook delivery"),
        Param("secretkey", description="Secret key of the Webhook delivery"),
        Param("sslverification", "boolean", description="If set to true then SSL verification "
              "will be done for the Webhook delivery otherwise not"),
        Param("payload", description="Payload of the Webhook delivery"),
    ],
    response=WEBHOOK_DELIVERY,
    since="4.20.0",
)
def execute_webhook_delivery(ctx: CallContext, p: Params) -> dict[str, Any]:
    existing: WebhookDelivery | None = p["id"]
    hook: Webhook | None = None
    raw_url = p["payloadurl"] if p["payloadurl"] and p["payloadurl"].strip() else None
    if existing is None and p["webhookid"] is None and raw_url is None:
        raise InvalidParameterValue("One of the id, webhookid or payloadurl must be specified")
    if existing is not None and p["webhookid"] is not None:
        raise InvalidParameterValue("Only one of the id or webhookid can be specified")
    if existing is not None:
        hook = ctx.db.get(Webhook, existing.webhook_id)
        assert hook is not None
        access.check_webhook_access(ctx, hook)
        access.live_webhook(hook, "Invalid webhook delivery specified")
    if p["webhookid"] is not None:
        hook = access.live_webhook(p["webhookid"], "Invalid webhook specified")
        access.check_webhook_access(ctx, hook)
    url = None
    if raw_url is not None:
        domain_id = hook.domain_id if hook is not None else ctx.account.domain_id
        url = access.checked_url(ctx, "executeWebhookDelivery", raw_url, domain_id)
    # Imported here: the sender side is the dispatcher's module.
    from csapi.webhooks import delivery

    if existing is not None:
        # A redelivery goes to the webhook's current URL with its current secret (CloudStack
        # only validates an override given with `id`, it never applies it).
        return delivery.execute_now(ctx, delivery=existing)
    return delivery.execute_now(
        ctx, webhook=hook, payload_url=url, secret=p["secretkey"],
        ssl_verification=p["sslverification"], payload=p["payload"])

"""addWebhookFilter, listWebhookFilters, deleteWebhookFilter (spec §1.9, CloudStack 4.23) without
CloudStack's bugs: `id` resolves against filters, every call checks access to the webhook,
`count` is the total, each item names its own webhook, duplicates and contradictions are
refused, and a delete must say what to delete."""

from __future__ import annotations

import uuid as uuidlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from csapi.api.context import CallContext
from csapi.api.errors import InvalidParameterValue
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import Kind, ListResult, Param, SuccessResult, command
from csapi.db.models import Webhook, WebhookFilter
from csapi.webhooks import access
from csapi.webhooks.filters import MATCH_TYPES, MODES
from csapi.webhooks.views import WEBHOOK_FILTER, filter_view

FILTER_TYPE = "EventType"  # the only filter type; not a parameter


def _choice(value: str | None, choices: tuple[str, ...], default: str, error: str) -> str:
    """Case-insensitive enum lookup (EnumUtils.getEnumIgnoreCase); blank means the default."""
    if value is None or not value.strip():
        return default
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    raise InvalidParameterValue(error)


def _check_conflicts(ctx: CallContext, hook: Webhook, mode: str, match_type: str,
                     value: str) -> None:
    existing = ctx.db.scalars(select(WebhookFilter).where(
        WebhookFilter.webhook_id == hook.id, WebhookFilter.match_type == match_type,
        func.lower(WebhookFilter.value) == value.lower()))
    for other in existing:
        if other.mode == mode:
            raise InvalidParameterValue(
                f"A filter with mode {mode}, match type {match_type} and value {other.value} "
                "already exists for this webhook")
        raise InvalidParameterValue(
            f"The filter contradicts the existing {other.mode} filter with match type "
            f"{match_type} and value {other.value} of this webhook")


@command(
    "addWebhookFilter",
    description="Adds a Webhook filter",
    params=[
        Param("webhookid", "uuid", True, "ID for the Webhook", entity=Webhook),
        Param("mode", description="Mode for the Webhook filter - Include or Exclude"),
        Param("matchtype", description="Match type for the Webhook filter - Exact, Prefix, "
              "Suffix or Contains"),
        Param("value", required=True, description="Value for the Webhook which that will be "
              "matched"),
    ],
    response=WEBHOOK_FILTER,
    since="4.23.0",
)
def add_webhook_filter(ctx: CallContext, p: Params) -> dict[str, Any]:
    hook = access.live_webhook(p["webhookid"])
    access.check_webhook_access(ctx, hook)
    mode = _choice(p["mode"], MODES, "Include", "Invalid mode specified")
    match_type = _choice(p["matchtype"], MATCH_TYPES, "Exact", "Invalid match type specified")
    _check_conflicts(ctx, hook, mode, match_type, p["value"])
    row = WebhookFilter(uuid=str(uuidlib.uuid4()), webhook_id=hook.id, type=FILTER_TYPE,
                        mode=mode, match_type=match_type, value=p["value"],
                        created=datetime.utcnow().replace(microsecond=0))
    ctx.db.add(row)
    ctx.db.flush()
    return filter_view(row, hook)


def _filter_webhook(ctx: CallContext, f: WebhookFilter) -> Webhook:
    hook = ctx.db.get(Webhook, f.webhook_id)
    assert hook is not None  # webhook_filter.webhook_id has a foreign key
    access.check_webhook_access(ctx, hook)
    return hook


@command(
    "listWebhookFilters",
    description="Lists Webhook filters",
    params=[
        Param("id", "uuid", description="The ID of the Webhook filter", entity=WebhookFilter),
        Param("webhookid", "uuid", description="The ID of the Webhook", entity=Webhook),
    ],
    response=WEBHOOK_FILTER,
    kind=Kind.LIST,
    since="4.23.0",
)
def list_webhook_filters(ctx: CallContext, p: Params) -> ListResult:
    stmt: Any = (select(WebhookFilter, Webhook).join(Webhook, Webhook.id == WebhookFilter.webhook_id)
            .where(access.operable_condition(ctx)))
    if p["id"] is not None:
        _filter_webhook(ctx, p["id"])
        stmt = stmt.where(WebhookFilter.id == p["id"].id)
    if p["webhookid"] is not None:
        hook = access.live_webhook(p["webhookid"])
        access.check_webhook_access(ctx, hook)
        stmt = stmt.where(WebhookFilter.webhook_id == hook.id)
    else:
        stmt = stmt.where(Webhook.removed.is_(None))
    if p["keyword"]:
        stmt = stmt.where(WebhookFilter.value.like(f"%{p['keyword']}%"))
    return page_query(ctx, p, stmt.order_by(WebhookFilter.id.desc()),
                      lambda row: filter_view(row[0], row[1]))


@command(
    "deleteWebhookFilter",
    description="Deletes Webhook filter",
    params=[
        Param("id", "uuid", description="The ID of the Webhook filter", entity=WebhookFilter),
        Param("webhookid", "uuid", description="The ID of the Webhook", entity=Webhook),
    ],
    response=None,
    since="4.23.0",
)
def delete_webhook_filter(ctx: CallContext, p: Params) -> SuccessResult:
    """`id`: that filter; `webhookid` alone: every filter of the webhook."""
    if p["id"] is None and p["webhookid"] is None:
        raise InvalidParameterValue("One of the id or webhookid must be specified")
    stmt = delete(WebhookFilter)
    if p["webhookid"] is not None:
        hook = access.live_webhook(p["webhookid"])
        access.check_webhook_access(ctx, hook)
        stmt = stmt.where(WebhookFilter.webhook_id == hook.id)
    if p["id"] is not None:
        _filter_webhook(ctx, p["id"])
        stmt = stmt.where(WebhookFilter.id == p["id"].id)
    ctx.db.execute(stmt.execution_options(synchronize_session=False))
    return SuccessResult()

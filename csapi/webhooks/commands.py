"""createWebhook, listWebhooks, updateWebhook, deleteWebhook (spec §1.2–§1.5).

The filter and delivery commands live in `filter_api` and `delivery_api`; importing them here
registers them (the registry loads this module only).
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from csapi.api.acl import visibility
from csapi.api.context import TYPE_ADMIN, TYPE_DOMAIN_ADMIN, CallContext
from csapi.api.errors import InvalidParameterValue
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ACL_LIST_PARAMS,
    ADMINS,
    PROJECT_PARAM,
    EventSpec,
    Kind,
    ListResult,
    Param,
    SuccessResult,
    command,
)
from csapi.crypto import MAX_SECRET_LENGTH
from csapi.db.models import Account, Domain, Project, Webhook
from csapi.webhooks import access
from csapi.webhooks import delivery_api as _delivery_api  # noqa: F401 - registers commands
from csapi.webhooks import filter_api as _filter_api  # noqa: F401 - registers commands
from csapi.webhooks.views import WEBHOOK, webhook_view

# The shared declarations carry no entity: resolve `domainid` to the Domain row here.
_ACL_LIST_PARAMS = tuple(dataclasses.replace(p, entity=Domain) if p.name == "domainid" else p
                         for p in ACL_LIST_PARAMS)


def _now() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


def _view(ctx: CallContext, hook: Webhook) -> dict[str, Any]:
    return webhook_view(ctx.db, ctx.state.secrets, hook)


def _event(ctx: CallContext, hook: Webhook) -> None:
    ctx.event_details.update(resource_type="Webhook", resource_id=hook.id,
                             resource_uuid=hook.uuid)


@command(
    "createWebhook",
    description="Creates a Webhook",
    params=[
        Param("name", required=True, description="Name for the Webhook"),
        Param("description", description="Description for the Webhook", length=4096),
        Param("state", description="State of the Webhook"),
        Param("account", description="An optional account for the Webhook. Must be used with "
              "domainId."),
        Param("domainid", "uuid", description="an optional domainId for the Webhook. If the "
              "account parameter is used, domainId must also be used.", entity=Domain),
        Param("projectid", "uuid", description="Project for the Webhook", entity=Project),
        Param("payloadurl", required=True, description="Payload URL of the Webhook"),
        Param("secretkey", description="Secret key of the Webhook", length=MAX_SECRET_LENGTH),
        Param("sslverification", "boolean", description="If set to true then SSL verification "
              "will be done for the Webhook otherwise not"),
        Param("scope", description="Scope of the Webhook", authorized=ADMINS),
    ],
    response=WEBHOOK,
    since="4.20.0",
    event=EventSpec("WEBHOOK.CREATE", "creating Webhook"),
)
def create_webhook(ctx: CallContext, p: Params) -> dict[str, Any]:
    access.check_secret("createWebhook", p["secretkey"], MAX_SECRET_LENGTH)
    owner = access.resolve_owner(ctx, p["account"], p["domainid"], p["projectid"])
    scope = access.parse_scope(p["scope"]) if p["scope"] else "Local"
    access.check_scope_for_owner(scope, owner)
    state = access.parse_state(p["state"]) if p["state"] else "Enabled"
    url = access.checked_url(ctx, "createWebhook", p["payloadurl"], owner.domain_id)
    access.check_duplicate_url(ctx.db, owner.id, url)
    ssl = bool(p["sslverification"])
    access.check_ssl(ssl, url, url)
    # A Domain-scoped webhook of an admin owner may target the given (sub-)domain.
    domain_id = owner.domain_id
    if (p["domainid"] is not None and scope == "Domain"
            and owner.type in (TYPE_ADMIN, TYPE_DOMAIN_ADMIN)):
        domain_id = p["domainid"].id
    hook = Webhook(
        uuid=str(uuidlib.uuid4()), name=p["name"], description=p["description"], state=state,
        domain_id=domain_id, account_id=owner.id, payload_url=url,
        secret_key=ctx.state.secrets.encrypt(p["secretkey"]), ssl_verification=ssl,
        scope=scope, created=_now(),
    )
    ctx.db.add(hook)
    ctx.db.flush()
    _event(ctx, hook)
    return _view(ctx, hook)


@command(
    "listWebhooks",
    description="Lists Webhooks",
    params=[
        Param("id", "uuid", description="The ID of the Webhook", entity=Webhook),
        Param("state", description="The state of the Webhook"),
        Param("name", description="The name of the Webhook"),
        Param("scope", description="The scope of the Webhook", authorized=ADMINS),
        *_ACL_LIST_PARAMS,
        dataclasses.replace(PROJECT_PARAM, entity=Project),
    ],
    response=WEBHOOK,
    kind=Kind.LIST,
    since="4.20.0",
)
def list_webhooks(ctx: CallContext, p: Params) -> ListResult:
    vis = visibility(ctx, account=p["account"], domain=p["domainid"],
                     isrecursive=p["isrecursive"], listall=p["listall"], project=p["projectid"],
                     id_given=p["id"] is not None)
    scope = access.parse_scope(p["scope"]) if p["scope"] else None
    if (scope == "Global" and not ctx.is_root_admin) or (
            scope == "Domain" and not (ctx.is_root_admin or ctx.is_domain_admin)):
        raise InvalidParameterValue(f"Scope {scope} can not be specified")
    state = access.parse_state(p["state"]) if p["state"] else None
    # Domain visibility follows the OWNER's domain (not the stored one), and no caller lists a
    # webhook it could not operate: its secret is in the answer.
    owner_domain = (select(Account.domain_id).where(Account.id == Webhook.account_id)
                    .scalar_subquery())
    stmt = vis.apply(select(Webhook).where(Webhook.removed.is_(None)), Webhook.account_id,
                     owner_domain)
    stmt = stmt.where(access.operable_condition(ctx))
    if p["id"] is not None:
        stmt = stmt.where(Webhook.id == p["id"].id)
    if p["name"] is not None:
        # SQL equality as CloudStack runs it on MySQL: case-insensitive, on every backend.
        stmt = stmt.where(func.lower(Webhook.name) == p["name"].lower())
    if p["keyword"]:
        stmt = stmt.where(Webhook.name.like(f"%{p['keyword']}%"))
    if scope:
        stmt = stmt.where(Webhook.scope == scope)
    if state:
        stmt = stmt.where(Webhook.state == state)
    return page_query(ctx, p, stmt.order_by(Webhook.id), lambda h: _view(ctx, h))


@command(
    "updateWebhook",
    description="Updates a Webhook",
    params=[
        Param("id", "uuid", True, "The ID of the Webhook", entity=Webhook),
        Param("name", description="Name for the Webhook"),
        Param("description", description="Description for the Webhook", length=4096),
        Param("state", description="State of the Webhook"),
        Param("payloadurl", description="Payload URL of the Webhook"),
        Param("secretkey", description="Secret key of the Webhook", length=MAX_SECRET_LENGTH),
        Param("sslverification", "boolean", description="If set to true then SSL verification "
              "will be done for the Webhook otherwise not"),
        Param("scope", description="Scope of the Webhook", authorized=ADMINS),
    ],
    response=WEBHOOK,
    since="4.20.0",
    event=EventSpec("WEBHOOK.UPDATE", "updating Webhook"),
)
def update_webhook(ctx: CallContext, p: Params) -> dict[str, Any]:
    hook = access.live_webhook(p["id"])
    access.check_webhook_access(ctx, hook)
    access.check_secret("updateWebhook", p["secretkey"], MAX_SECRET_LENGTH)
    _event(ctx, hook)
    if p["name"] and p["name"].strip():
        hook.name = p["name"]
    if p["description"] is not None:
        hook.description = p["description"]
    if p["state"]:
        hook.state = access.parse_state(p["state"])
    owner = ctx.db.get(Account, hook.account_id)
    assert owner is not None
    if p["scope"]:
        scope = access.parse_scope(p["scope"])
        access.check_scope_for_owner(scope, owner)
        hook.scope = scope
    url = hook.payload_url or ""
    if p["payloadurl"]:
        url = access.checked_url(ctx, "updateWebhook", p["payloadurl"], owner.domain_id)
        access.check_duplicate_url(ctx.db, owner.id, url, current=hook.id)
        hook.payload_url = url
    if p["sslverification"] is not None:
        # CloudStack checks the (new or current) URL only when sslverification is given.
        access.check_ssl(p["sslverification"], url, url)
        hook.ssl_verification = p["sslverification"]
    if p["secretkey"] is not None:
        # A blank secret removes it: deliveries are then sent unsigned.
        secret = p["secretkey"] if p["secretkey"].strip() else None
        hook.secret_key = ctx.state.secrets.encrypt(secret)
    ctx.db.flush()
    return _view(ctx, hook)


@command(
    "deleteWebhook",
    description="Deletes a Webhook",
    params=[Param("id", "uuid", True, "The ID of the Webhook", entity=Webhook)],
    response=None,
    since="4.20.0",
    event=EventSpec("WEBHOOK.DELETE", "deleting Webhook"),
)
def delete_webhook(ctx: CallContext, p: Params) -> SuccessResult:
    hook = access.live_webhook(p["id"])
    access.check_webhook_access(ctx, hook)
    # Soft delete: the history stays (as CloudStack's view keeps joining removed webhooks).
    hook.removed = _now()
    _event(ctx, hook)
    return SuccessResult()

"""The `webhook`, `webhookdelivery` and `webhookfilter` response objects (CloudStack's wire
order, spec §2) and the functions that fill them from rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from csapi.api.context import TYPE_PROJECT
from csapi.api.registry import obj
from csapi.commands.views import domain_path
from csapi.crypto import SecretBox
from csapi.db import hold
from csapi.db.models import (
    Account,
    Domain,
    Event,
    ManagementServer,
    Project,
    Webhook,
    WebhookDelivery,
    WebhookFilter,
)

WEBHOOK = obj(
    "webhook",
    ("id", "string", "The ID of the Webhook"),
    ("name", "string", "The name of the Webhook"),
    ("description", "string", "The description of the Webhook"),
    ("state", "string", "The state of the Webhook"),
    ("domainid", "string", "The ID of the domain in which the Webhook exists"),
    ("domain", "string", "The name of the domain in which the Webhook exists"),
    ("domainpath", "string", "path of the domain to which the Webhook belongs"),
    ("account", "string", "The account associated with the Webhook"),
    ("projectid", "string", "the project id of the Webhook"),
    ("project", "string", "the project name of the Webhook"),
    ("payloadurl", "string", "The payload URL end point for the Webhook"),
    ("secretkey", "string", "The secret key for the Webhook"),
    ("sslverification", "boolean", "Whether SSL verification is enabled for the Webhook"),
    ("scope", "string", "The scope of the Webhook"),
    ("created", "date", "The date when this Webhook was created"),
)

WEBHOOK_DELIVERY = obj(
    "webhookdelivery",
    ("id", "string", "The ID of the Webhook delivery"),
    ("eventid", "string", "The ID of the event"),
    ("eventtype", "string", "The type of the event"),
    ("webhookid", "string", "The ID of the Webhook"),
    ("webhookname", "string", "The name of the Webhook"),
    ("managementserverid", "string", "The ID of the management server which executed "
     "delivery"),
    ("managementservername", "string", "The name of the management server which executed "
     "delivery"),
    ("headers", "string", "The headers of the webhook delivery"),
    ("payload", "string", "The payload of the webhook delivery"),
    ("success", "boolean", "Whether Webhook delivery succeeded or not"),
    ("response", "string", "The response of the webhook delivery"),
    ("startdate", "date", "The start time of the Webhook delivery"),
    ("enddate", "date", "The end time of the Webhook delivery"),
)

WEBHOOK_FILTER = obj(
    "webhookfilter",
    ("id", "string", "The ID of the Webhook filter"),
    ("webhookid", "string", "The ID of the Webhook"),
    ("webhookname", "string", "The name of the Webhook"),
    ("type", "string", "The type of the Webhook filter"),
    ("mode", "string", "The mode of the Webhook filter"),
    ("matchtype", "string", "The match type of the Webhook filter"),
    ("value", "string", "The value of the Webhook filter"),
    ("created", "date", "The date when the Webhook filter was created"),
)


def webhook_view(db: Session, secrets: SecretBox, hook: Webhook) -> dict[str, Any]:
    """The stored domain (which may differ from the owner's, see createWebhook rule 8) and
    the owner: `account` for accounts, `projectid`/`project` for project-owned webhooks."""
    domain = db.get(Domain, hook.domain_id)
    owner = db.get(Account, hook.account_id)
    hold(db, domain, owner)  # a page of one owner's webhooks reads them once
    project = None
    if owner is not None and owner.type == TYPE_PROJECT:
        project = db.scalar(select(Project).where(Project.project_account_id == owner.id))
    return {
        "id": hook.uuid, "name": hook.name, "description": hook.description,
        "state": hook.state.strip(),
        "domainid": domain.uuid if domain else None,
        "domain": domain.name if domain else None,
        "domainpath": domain_path(domain) if domain else None,
        "account": owner.account_name if owner is not None and project is None else None,
        "projectid": project.uuid if project else None,
        "project": project.name if project else None,
        "payloadurl": hook.payload_url,
        "secretkey": secrets.decrypt(hook.secret_key),
        "sslverification": bool(hook.ssl_verification),
        "scope": hook.scope.strip(),
        "created": hook.created,
    }


def delivery_view(delivery: WebhookDelivery, event: Event, hook: Webhook,
                  ms: ManagementServer | None) -> dict[str, Any]:
    return {
        "id": delivery.uuid, "eventid": event.uuid, "eventtype": event.type,
        "webhookid": hook.uuid, "webhookname": hook.name,
        "managementserverid": ms.uuid if ms else None,
        "managementservername": ms.name if ms else None,
        "headers": delivery.headers, "payload": delivery.payload,
        "success": bool(delivery.success), "response": delivery.response,
        "startdate": delivery.start_time, "enddate": delivery.end_time,
    }


def filter_view(f: WebhookFilter, hook: Webhook) -> dict[str, Any]:
    return {
        "id": f.uuid, "webhookid": hook.uuid, "webhookname": hook.name, "type": f.type,
        "mode": f.mode, "matchtype": f.match_type, "value": f.value, "created": f.created,
    }

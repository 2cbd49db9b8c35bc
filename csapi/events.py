"""ActionEvents: recorded in the command's transaction, published on the in-process event bus
only after that transaction commits (a rolled-back command publishes nothing)."""

from __future__ import annotations

import json
import logging
import threading
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from csapi import settings
from csapi.db.models import Account, Event, Project, User, WebhookDispatchEvent

log = logging.getLogger(__name__)

STATES = ("Created", "Scheduled", "Started", "Completed")
LEVELS = ("INFO", "WARN", "ERROR")


@dataclass(frozen=True)
class PublishedEvent:
    """What the bus carries: CloudStack's framework Event of category ActionEvent."""

    event_id: int
    event_uuid: str
    event_type: str
    state: str
    account_id: int
    account_uuid: str
    domain_id: int
    created: datetime
    payload: str  # the `description` JSON string, the exact webhook body
    category: str = "ActionEvent"


# Gson's default HTML-safe escaping, which CloudStack's payload serializer keeps on, plus the
# two line separators Gson always escapes (json.dumps leaves them raw).
_GSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "=": "\\u003d", "'": "\\u0027",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _gson(data: dict[str, str]) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _GSON_ESCAPES.items():
        text = text.replace(raw, escaped)
    return text


def build_payload(
    *,
    created: datetime,
    event_type: str,
    state: str,
    description: str,
    user_uuid: str | None,
    account_uuid: str | None,
    project_uuid: str | None,
    entity: str | None,
    entity_uuid: str | None,
    context_entities: dict[str, str] | None = None,
) -> str:
    """The event payload in one fixed key order (CloudStack's HashMap order for these keys)."""
    data: dict[str, str | None] = {
        "eventDateTime": created.strftime("%Y-%m-%d %H:%M:%S +0000"),
        "entityuuid": entity_uuid,
        "project": project_uuid,
        "description": description,
        "event": event_type,
        "user": user_uuid,
        "account": account_uuid,
        "entity": entity,
        "status": state,
    }
    for name, value in (context_entities or {}).items():
        data.setdefault(name, value)
    return _gson({k: v for k, v in data.items() if v is not None})


def record(
    db: Session,
    pending: list[PublishedEvent],
    *,
    event_type: str,
    description: str,
    user: User,
    account: Account,
    state: str = "Completed",
    level: str = "INFO",
    resource_type: str | None = None,
    resource_id: int | None = None,
    resource_uuid: str | None = None,
    start_id: int = 0,
    display: bool = True,
    created: datetime | None = None,
) -> Event:
    """Write an event row in `db`'s transaction and queue it for publication after commit.

    `account` is the event owner (the account the action is attributed to, e.g. a project's
    account), which decides which webhooks receive it.
    """
    when = created or datetime.utcnow().replace(microsecond=0)
    row = Event(
        uuid=str(uuidlib.uuid4()), type=event_type, state=state, description=description[:1024],
        user_id=user.id, account_id=account.id, domain_id=account.domain_id,
        resource_id=resource_id, resource_type=resource_type, created=when, level=level,
        start_id=start_id, archived=False, display=display,
    )
    db.add(row)
    db.flush()
    project_uuid = None
    if account.type == 5:
        project_uuid = db.query(Project.uuid).filter(
            Project.project_account_id == account.id
        ).scalar()
    payload = build_payload(
        created=when, event_type=event_type, state=state, description=row.description,
        user_uuid=user.uuid, account_uuid=account.uuid, project_uuid=project_uuid,
        entity=resource_type, entity_uuid=resource_uuid,
        context_entities={resource_type: resource_uuid} if resource_type and resource_uuid
        else None,
    )
    # The webhook dispatcher's durable inbox, in the same transaction as the event itself:
    # if the process dies right after commit, another server still fans the event out.
    if settings.value(db, "publish.action.events"):
        db.add(WebhookDispatchEvent(event_id=row.id, payload=payload, created=when))
    pending.append(PublishedEvent(
        event_id=row.id, event_uuid=row.uuid or "", event_type=event_type, state=state,
        account_id=account.id, account_uuid=account.uuid or "", domain_id=account.domain_id,
        created=when, payload=payload,
    ))
    return row


Subscriber = Callable[[PublishedEvent], None]


class EventBus:
    """In-process publish/subscribe. Subscribers run synchronously and must be quick (the
    webhook dispatcher only enqueues); a failing subscriber never affects the others."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers.remove(callback)

    def publish(self, events: list[PublishedEvent]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for event in events:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:  # noqa: BLE001 - one bad subscriber must not stop the rest
                    log.exception("event bus subscriber failed for event %s", event.event_uuid)

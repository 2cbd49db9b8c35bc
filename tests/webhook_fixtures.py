"""Shared helpers for the webhook API tests: DNS stand-in, row counts, delivery rows."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from csapi.db import transaction
from csapi.db.models import Event, Webhook, WebhookDelivery
from csapi.webhooks import policy

# Public names the tests use, answered without real DNS (the sandbox has none). Unknown names
# fail to resolve, as `nonexistent.invalid` must.
FAKE_DNS = {
    "smee.io": ["93.184.216.34"],
    "hooks.example.com": ["93.184.216.35"],
    "other.example.com": ["93.184.216.36"],
    "metadata.example.com": ["93.184.216.37", "169.254.169.254"],
}


def fake_resolve(host: str, port: int) -> Iterable[str]:
    if host in FAKE_DNS:
        return FAKE_DNS[host]
    if host == "localhost":
        return ["127.0.0.1"]
    raise OSError(f"cannot resolve {host}")


_real_getaddrinfo = socket.getaddrinfo


def _literal_only_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Below the API's checks, nothing resolves a name: a test never reaches the internet."""
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name == "localhost" or is_ip(str(name).strip("[]")):
        return _real_getaddrinfo(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's URL checks resolve FAKE_DNS; a delivery to such a name fails to resolve."""
    monkeypatch.setattr(policy, "system_resolve", fake_resolve)
    monkeypatch.setattr(socket, "getaddrinfo", _literal_only_getaddrinfo)


def count(state: Any, model: type, *where: Any) -> int:
    with transaction(state.sessions) as db:
        return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def snapshot(state: Any) -> dict[str, Any]:
    """Everything a webhook command may write, to compare before/after a rejected call."""
    from csapi.db.models import WebhookFilter

    with transaction(state.sessions) as db:
        hooks = [(h.id, h.name, h.description, h.state, h.domain_id, h.account_id,
                  h.payload_url, h.secret_key, h.ssl_verification, h.scope, h.removed)
                 for h in db.scalars(select(Webhook).order_by(Webhook.id))]
        deliveries = list(db.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id)))
        filters = [(f.id, f.mode, f.match_type, f.value)
                   for f in db.scalars(select(WebhookFilter).order_by(WebhookFilter.id))]
        events = int(db.scalar(select(func.count()).select_from(Event)) or 0)
    return {"webhooks": hooks, "deliveries": deliveries, "filters": filters, "events": events}


def insert_delivery(state: Any, webhook_uuid: str, *, event_type: str = "VM.START",
                    payload: str = '{"event":"VM.START"}', success: bool = True,
                    start: datetime | None = None, end: datetime | None = None,
                    msid: int | None = None, response: str = "ok") -> str:
    """A delivery row as the dispatcher would write it, with a real event row behind it."""
    start = start or datetime(2026, 1, 10, 10, 0, 0)
    end = end or start
    with transaction(state.sessions) as db:
        hook = db.scalar(select(Webhook).where(Webhook.uuid == webhook_uuid))
        assert hook is not None
        event = Event(uuid=str(uuid.uuid4()), type=event_type, state="Completed",
                      description="test event", user_id=2, account_id=hook.account_id,
                      domain_id=hook.domain_id, created=start, level="INFO", start_id=0,
                      archived=False, display=True)
        db.add(event)
        db.flush()
        row = WebhookDelivery(uuid=str(uuid.uuid4()), event_id=event.id, webhook_id=hook.id,
                              mshost_msid=msid if msid is not None else state.msid,
                              headers="X-CS-Event: " + event_type, payload=payload,
                              success=success, response=response, start_time=start,
                              end_time=end)
        db.add(row)
        db.flush()
        return row.uuid or ""


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True

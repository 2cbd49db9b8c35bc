"""Which webhooks receive an event (CloudStack's listByEnabledForDelivery, then filters)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from csapi.db.models import Domain, Webhook, WebhookFilter
from csapi.webhooks.filters import event_type_matches


def ancestor_domain_ids(db: Session, domain_id: int) -> list[int]:
    """The domain and all its ancestors up to ROOT."""
    path = db.scalar(select(Domain.path).where(Domain.id == domain_id))
    if path is None:
        return [domain_id]
    parts = [p for p in path.split("/") if p]
    prefixes = ["/"] + ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
    return list(db.scalars(select(Domain.id).where(Domain.path.in_(prefixes))))


def matching_webhooks(
    db: Session, *, account_id: int, domain_id: int, event_type: str
) -> list[Webhook]:
    """Enabled, non-removed webhooks whose scope covers the event's owner, admitted by their
    filters: Local = the owner account, Domain = the event's domain or an ancestor of it,
    Global = everything."""
    # Three branches, each read through its own index (db/upgrade 0003): one query with
    # OR-ed branches makes MySQL/MariaDB scan every webhook for every event.
    enabled = select(Webhook).where(Webhook.state == "Enabled", Webhook.removed.is_(None))
    branches = union_all(
        enabled.where(Webhook.scope == "Global"),
        enabled.where(Webhook.scope == "Local", Webhook.account_id == account_id),
        enabled.where(Webhook.scope == "Domain",
                      Webhook.domain_id.in_(ancestor_domain_ids(db, domain_id))),
    )
    candidates = sorted(db.scalars(select(Webhook).from_statement(branches)),
                        key=lambda w: w.id)
    if not candidates:
        return []
    filters: dict[int, list[WebhookFilter]] = defaultdict(list)
    for f in db.scalars(select(WebhookFilter).where(
            WebhookFilter.webhook_id.in_([w.id for w in candidates]))):
        filters[f.webhook_id].append(f)
    return [w for w in candidates if event_type_matches(filters.get(w.id, []), event_type)]

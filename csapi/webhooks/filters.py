"""Webhook event-type filters (CloudStack 4.23): how a webhook's filters admit an event."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MODES = ("Include", "Exclude")
MATCH_TYPES = ("Exact", "Prefix", "Suffix", "Contains")


def value_matches(match_type: str | None, value: str | None, event_type: str) -> bool:
    """Case-sensitive, as CloudStack's WebhookServiceImpl; a null value matches nothing."""
    if value is None:
        return False
    if match_type == "Prefix":
        return event_type.startswith(value)
    if match_type == "Suffix":
        return event_type.endswith(value)
    if match_type == "Contains":
        return value in event_type
    return event_type == value


def event_type_matches(filters: Iterable[Any], event_type: str) -> bool:
    """No filters: deliver. Any matching Exclude: skip. If Include filters exist, at least one
    must match."""
    includes = []
    for f in filters:
        if f.mode == "Exclude":
            if value_matches(f.match_type, f.value, event_type):
                return False
        else:
            includes.append(f)
    return not includes or any(value_matches(f.match_type, f.value, event_type)
                               for f in includes)

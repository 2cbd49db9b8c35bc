"""Set-up pieces the scenarios share: receivers, webhooks, event sources, settling."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import gevent

from bench.load import Marker, domain_marker
from bench.stack import ROOT, ApiClient, Stack, child_env
from csapi.db.models import WebhookDelivery, WebhookDispatchEvent, WebhookDispatchJob

SECRET = "s3cret"
DRIVER_CONNECTIONS = 4  # API calls in flight from the driver in burst mode


def create_webhooks(api: ApiClient, urls: Sequence[str], prefix: str, **extra: Any
                    ) -> list[str]:
    """createWebhook for each URL (Local to the root admin, with a secret); their uuids."""
    return [api.ok("createWebhook", name=f"{prefix}-{i}", payloadurl=url, secretkey=SECRET,
                   **extra)["webhook"]["id"] for i, url in enumerate(urls)]


def set_enabled(api: ApiClient, hooks: Sequence[str], enabled: int) -> None:
    """The first `enabled` webhooks Enabled, the rest Disabled."""
    for i, hook in enumerate(hooks):
        api.ok("updateWebhook", id=hook, state="Enabled" if i < enabled else "Disabled")


def queued(s: Stack) -> int:
    return s.count(WebhookDispatchEvent) + s.count(WebhookDispatchJob)


def settle(s: Stack, timeout: float = 120.0) -> None:
    """Wait until nothing is left to fan out or deliver."""
    deadline = time.monotonic() + timeout
    while queued(s):
        if time.monotonic() > deadline:
            raise TimeoutError(f"queue not drained within {timeout} s ({queued(s)} left)")
        gevent.sleep(0.05)


def deliveries(s: Stack) -> int:
    return s.count(WebhookDelivery)


def domain_events(api: ApiClient, tag: str, n: int) -> list[tuple[str, Marker]]:
    """n createDomain calls (one DOMAIN.CREATE event each, owned by the root admin; the
    answer's id is the event's entityuuid), signed ahead of time."""
    return [(api.signed_path("createDomain", name=f"{tag}-{i}"), domain_marker)
            for i in range(n)]


def drivers(s: Stack, n: int = DRIVER_CONNECTIONS) -> list[ApiClient]:
    return [s.client() for _ in range(n)]


def baseline_posts(url: str, count: int, concurrency: int) -> dict[str, float]:
    """bench.baseline_sender in its own process."""
    out = subprocess.run(
        [sys.executable, "-P", "-m", "bench.baseline_sender", "--url", url, "--count", str(count),
         "--concurrency", str(concurrency)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def purge_queue(s: Stack) -> int:
    """Delete what is still queued and not claimed (a run's leftover backlog), so the next
    run starts from an empty queue. Claimed jobs finish normally."""
    from sqlalchemy import delete

    with s.tx() as db:
        n = db.execute(delete(WebhookDispatchEvent)).rowcount
        n += db.execute(delete(WebhookDispatchJob).where(
            WebhookDispatchJob.claimed_by.is_(None))).rowcount
    return int(n)

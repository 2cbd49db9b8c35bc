"""Background services of a management server: the mshost heartbeat and the webhook
dispatcher. Started by `csapi serve` after the API is listening."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import update

from csapi.api.executor import fail_interrupted_jobs
from csapi.db import transaction
from csapi.db.models import ManagementServer

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10


class Heartbeat:
    def __init__(self, state: Any) -> None:
        self.state = state
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="mshost-heartbeat")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with transaction(self.state.sessions) as db:
            db.execute(update(ManagementServer).where(
                ManagementServer.msid == self.state.msid).values(state="Down"))

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with transaction(self.state.sessions) as db:
                    db.execute(update(ManagementServer).where(
                        ManagementServer.msid == self.state.msid).values(
                        state="Up", last_update=datetime.utcnow().replace(microsecond=0)))
            except Exception:  # noqa: BLE001 - the database may be away for a while
                log.warning("mshost heartbeat failed; retrying", exc_info=True)


def start_services(state: Any) -> None:
    fail_interrupted_jobs(state)
    from csapi.webhooks.dispatcher import Dispatcher

    services: list[Any] = [Heartbeat(state), Dispatcher(state)]
    for service in services:
        service.start()
    state.services = services


def stop_services(state: Any) -> None:
    for service in reversed(state.services):
        try:
            service.stop()
        except Exception:  # noqa: BLE001 - stop the rest regardless
            log.exception("stopping %s failed", service)

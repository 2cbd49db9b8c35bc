"""The Flask application factory and the per-process state it carries."""

from __future__ import annotations

import logging
import socket
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, Response
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from csapi import db as dblib
from csapi.api.registry import load_commands
from csapi.api.sessions import SessionStore
from csapi.crypto import SecretBox, load_key
from csapi.db.models import ManagementServer
from csapi.events import EventBus
from csapi.seed import seed

log = logging.getLogger(__name__)
VERSION = "4.20.0.0"


@dataclass
class AppState:
    """Everything one management server (one `csapi serve` process) shares between requests."""

    engine: Engine
    sessions: sessionmaker[Session]
    secrets: SecretBox
    msid: int
    host: str = "127.0.0.1"
    port: int = 8080
    bus: EventBus = field(default_factory=EventBus)
    api_sessions: SessionStore = field(default_factory=SessionStore)
    mshost_id: int = 0
    mshost_uuid: str = ""
    name: str = ""
    services: list[Any] = field(default_factory=list)


def default_msid(host: str, port: int) -> int:
    # A stable number per (host name, port), as CloudStack derives msid from the MAC address.
    digest = uuidlib.uuid5(uuidlib.NAMESPACE_DNS, f"{socket.gethostname()}:{host}:{port}")
    return digest.int % (2**48)


def register_mshost(state: AppState) -> None:
    now = datetime.utcnow().replace(microsecond=0)
    with dblib.transaction(state.sessions) as db:
        row = db.scalar(select(ManagementServer).where(ManagementServer.msid == state.msid))
        if row is None:
            row = ManagementServer(uuid=str(uuidlib.uuid4()), msid=state.msid)
            db.add(row)
        row.name = state.name or socket.gethostname()
        row.version = VERSION
        row.service_ip = state.host
        row.service_port = state.port
        row.state = "Up"
        row.last_update = now
        row.removed = None
        db.flush()
        state.mshost_id, state.mshost_uuid = row.id, row.uuid or ""


def build_state(
    database_url: str,
    *,
    msid: int | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    key_file: str | None = None,
    upgrade: bool = True,
) -> AppState:
    if upgrade:
        dblib.upgrade(database_url)
    engine = dblib.make_engine(database_url)
    factory = dblib.make_sessionmaker(engine)
    with dblib.transaction(factory) as db:
        seed(db)
    state = AppState(
        engine=engine, sessions=factory, secrets=SecretBox(load_key(key_file)),
        msid=msid if msid is not None else default_msid(host, port), host=host, port=port,
    )
    register_mshost(state)
    return state


def create_app(state: AppState) -> Flask:
    load_commands()
    app = Flask("csapi")
    app.config["CSAPI_STATE"] = state
    from csapi.api.servlet import (
        MAX_REQUEST_SIZE,
        bp,
        error_response,
        http_error,
        query_wants_json,
    )

    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_SIZE
    app.register_blueprint(bp)

    @app.errorhandler(HTTPException)
    def transport_error(exc: HTTPException) -> Response:
        # Even transport-level errors (unknown path, PUT, DELETE) get CloudStack's envelope,
        # never an HTML page.
        return error_response(http_error(exc), "errorresponse", query_wants_json())

    return app

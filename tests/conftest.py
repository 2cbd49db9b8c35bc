"""Test fixtures: a real database (SQLite, or MariaDB when CSAPI_TEST_BACKEND=mysql), the Flask
app in process, a signing API client, and `csapi serve` as a real process for HTTP tests."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from csapi import db as dblib
from csapi.app import AppState, build_state, create_app
from csapi.db.models import Base
from csapi.seed import seed
from tests.client import ApiClient, make_keys
from tests.server import DatabaseFactory, RunningServer, ServerFactory, module_server

# One fixed key for every process a test starts, so they can read each other's secrets.
os.environ.setdefault(
    "CSAPI_ENCRYPTION_KEY", base64.urlsafe_b64encode(b"csapi-test-key-0123456789abcdef!").decode()
)
BACKEND = os.environ.get("CSAPI_TEST_BACKEND", "sqlite")
MYSQL_SERVER = os.environ.get("CSAPI_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")


def _mysql_database() -> Iterator[str]:
    name = f"csapi_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    server = create_engine(MYSQL_SERVER + "/")
    try:
        with server.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    except Exception as exc:  # noqa: BLE001 - the MySQL suite must fail, never skip
        pytest.fail(f"MariaDB at {MYSQL_SERVER} is unreachable: {exc}", pytrace=False)
    try:
        yield f"{MYSQL_SERVER}/{name}?charset=utf8mb4"
    finally:
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        server.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole session; tests get it emptied and re-seeded."""
    if BACKEND == "mysql":
        yield from _mysql_database()
    else:
        path = tmp_path_factory.mktemp("db") / "csapi.db"
        yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    dblib.upgrade(database_url)
    return database_url


def reset_database(state: AppState) -> None:
    # Children before parents (the models declare every foreign key), so foreign keys stay on.
    with state.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    with dblib.transaction(state.sessions) as session:
        seed(session)


@pytest.fixture
def state(migrated: str) -> Iterator[AppState]:
    st = build_state(migrated, msid=1000, upgrade=False)
    reset_database(st)
    from csapi.app import register_mshost

    register_mshost(st)
    yield st
    st.engine.dispose()


@pytest.fixture
def app(state: AppState):  # type: ignore[no-untyped-def]
    return create_app(state)


@pytest.fixture
def admin(app, state: AppState) -> ApiClient:  # type: ignore[no-untyped-def]
    """The seeded root admin, calling with freshly registered API keys."""
    api_key, secret = make_keys(state, user_id=2)
    return ApiClient(app.test_client(), api_key, secret)


# --- real `csapi serve` processes (tests/server.py) --------------------------------------

@pytest.fixture
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    """`fresh_database()` -> URL of a new, empty database (a SQLite file, or a new MariaDB
    schema when CSAPI_TEST_BACKEND=mysql), dropped after the test."""
    factory = DatabaseFactory(BACKEND, tmp_path_factory.mktemp("fresh-db"))
    yield factory
    factory.close()


@pytest.fixture
def serve(tmp_path_factory: pytest.TempPathFactory,
          fresh_database: DatabaseFactory) -> Iterator[ServerFactory]:
    """`serve(database_url, integration_port=True, msid=..., env=..., args=[...])` starts
    `csapi serve` on a free loopback port and returns a RunningServer (url, pid, stop(),
    kill()). Servers still running after the test are stopped with SIGTERM and must exit 0.
    (Depends on fresh_database so that databases outlive the servers using them.)"""
    factory = ServerFactory(tmp_path_factory.mktemp("serve"))
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One `csapi serve` (integration port on) on its own fresh database, shared by the
    protocol test modules that only need *a* real server; its log must stay free of
    tracebacks whatever they send."""
    with module_server(tmp_path_factory, integration_port=True) as server:
        yield server
        assert "Traceback" not in server.log(), server.log()[-4000:]

"""The schema: models and migrations agree, the webhook tables match the design document column
for column on MariaDB, `csapi db upgrade` works, and `csapi serve` seeds once and stops
cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import csapi.migrations as migrations
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from csapi import db as dblib
from csapi.db.models import (
    Account,
    Base,
    Configuration,
    DataCenter,
    Domain,
    ManagementServer,
    Role,
    RolePermission,
    User,
)
from tests.server import backend, empty_database

# The design document's tables (seed/webhooks-design.txt) as PRODUCT.md settles them: plus
# released CloudStack's `headers TEXT`, and `end_time datetime` where the document repeats
# `secret_key` by mistake. MariaDB spells the types as below.
BIGINT = "bigint(20) unsigned"
WEBHOOK_COLUMNS = [
    ("id", BIGINT), ("uuid", "varchar(255)"), ("name", "varchar(255)"),
    ("description", "varchar(4096)"), ("state", "char(32)"), ("domain_id", BIGINT),
    ("account_id", BIGINT), ("payload_url", "varchar(255)"), ("secret_key", "varchar(255)"),
    ("ssl_verification", "tinyint(1)"), ("scope", "char(32)"), ("created", "datetime"),
    ("removed", "datetime"),
]
WEBHOOK_DELIVERY_COLUMNS = [
    ("id", BIGINT), ("uuid", "varchar(255)"), ("event_id", BIGINT), ("webhook_id", BIGINT),
    ("mshost_msid", BIGINT), ("headers", "text"), ("payload", "text"),
    ("success", "tinyint(1)"), ("response", "text"), ("start_time", "datetime"),
    ("end_time", "datetime"),
]
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def head_revision() -> str:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "csapi.cli", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database brought to the newest schema by `csapi db upgrade --database-url`
    (run twice: the second run finds nothing to do). Shared by the schema tests."""
    with empty_database(backend(), tmp_path_factory.mktemp("schema")) as url:
        for _ in range(2):
            done = run_cli("db", "upgrade", "--database-url", url)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == "database is at the latest schema"
        yield url


def test_db_upgrade_command_reaches_the_head(upgraded):
    engine = dblib.make_engine(upgraded)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
                (head_revision(),)]
            for name in Base.metadata.tables:  # every table exists (and is empty)
                quoted = conn.dialect.identifier_preparer.quote(name)
                assert conn.execute(text(f"SELECT COUNT(*) FROM {quoted}")).scalar() == 0
    finally:
        engine.dispose()


def test_models_and_migrations_agree(upgraded):
    engine = dblib.make_engine(upgraded)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.skipif(backend() != "mysql", reason="MariaDB column types: CSAPI_TEST_BACKEND=mysql")
def test_webhook_tables_match_the_design_document_on_mariadb(upgraded):
    # In MySQL mode `upgraded` fails (never skips) when MariaDB is unreachable.
    engine = dblib.make_engine(upgraded)
    try:
        with engine.connect() as conn:
            assert "mariadb" in conn.execute(text("SELECT VERSION()")).scalar().lower()
            for table, expected in (("webhook", WEBHOOK_COLUMNS),
                                    ("webhook_delivery", WEBHOOK_DELIVERY_COLUMNS)):
                rows = conn.execute(text(
                    "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.columns "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t "
                    "ORDER BY ORDINAL_POSITION"), {"t": table}).all()
                assert [tuple(r) for r in rows] == expected, table
    finally:
        engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = dblib.make_engine(url)
    try:
        with dblib.transaction(dblib.make_sessionmaker(engine)) as db:
            return {model.__tablename__: db.scalar(select(func.count()).select_from(model))
                    for model in (Domain, Account, User, Role, RolePermission, Configuration,
                                  DataCenter, ManagementServer)}
    finally:
        engine.dispose()


def test_serve_twice_seeds_once_and_stops_cleanly(serve, upgraded):
    url = upgraded  # (runs after the read-only schema checks above)
    first = serve(url, msid=4242)
    assert first.stop(signal.SIGTERM) == 0
    after_first = _counts(url)
    assert (after_first["domain"], after_first["account"], after_first["user"]) == (1, 2, 2)
    assert after_first["roles"] == 6 and after_first["data_center"] == 1
    assert after_first["mshost"] == 1 and after_first["configuration"] > 10
    second = serve(url, msid=4242)
    assert second.stop(signal.SIGINT) == 0
    assert _counts(url) == after_first
    engine = dblib.make_engine(url)
    try:
        with dblib.transaction(dblib.make_sessionmaker(engine)) as db:
            mshost = db.scalars(select(ManagementServer)).one()
            # The heartbeat marks the management server down on a clean stop.
            assert (mshost.msid, mshost.state) == (4242, "Down")
            assert [u.username for u in db.scalars(select(User).order_by(User.id))] == [
                "system", "admin"]
    finally:
        engine.dispose()
    for server in (first, second):
        assert "Traceback" not in server.log(), server.log()[-3000:]

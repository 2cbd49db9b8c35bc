"""Database engine, sessions and schema upgrades."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import String, create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from csapi.api.errors import ParamError

DEFAULT_DATABASE_URL = "sqlite:///csapi.db"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("CSAPI_DATABASE_URL") or DEFAULT_DATABASE_URL


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=10,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers work while the dispatcher writes; foreign keys as on MySQL.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(
        url,
        # A server that stops answering (network cut, hung host) fails the statement after a
        # minute instead of holding the request or the worker forever.
        connect_args={"connect_timeout": 10, "read_timeout": 60, "write_timeout": 60},
        pool_size=20,
        max_overflow=20,
        pool_pre_ping=True,
        pool_recycle=3600,
        isolation_level="READ COMMITTED",
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, future=True)


class ColumnTooLong(ParamError):
    """A value longer than its column: a clear 431 on every backend (MySQL would refuse it
    with an error, SQLite would silently keep it)."""


@event.listens_for(Session, "before_flush")
def _check_string_lengths(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.new) + list(session.dirty):
        for attr in inspect(obj).mapper.column_attrs:
            column = attr.columns[0]
            length = getattr(column.type, "length", None)
            if not isinstance(column.type, String) or not length:
                continue
            value = getattr(obj, attr.key, None)
            if isinstance(value, str) and len(value) > length:
                raise ColumnTooLong(
                    f"Value of {column.name} is longer than its maximum of {length} characters"
                )


_HELD = "csapi.held"


def hold(session: Session, *rows: Any) -> None:
    """Keep `rows` referenced until the session's transaction ends. The identity map holds
    rows only weakly, so a row nobody holds is read again by the next `session.get`; held,
    it is found there (changes made through the ORM land on the same objects)."""
    session.info.setdefault(_HELD, set()).update(r for r in rows if r is not None)


@event.listens_for(Session, "after_transaction_end")
def _release_held(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_HELD, None)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema (Alembic head)."""
    from alembic import command
    from alembic.config import Config

    import csapi.migrations as migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.attributes["database_url"] = url
    command.upgrade(cfg, "head")

"""Set-up and inspection of a database served by real `csapi serve` processes, for the webhook
dispatcher tests: settings written before a server starts, tenants and webhooks, events made
through the API, and the delivery history read back.

Rows that no API command creates yet are written straight to the database (secrets encrypted
as the server does); everything a command exists for goes through the API.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from csapi import db as dblib
from csapi.crypto import SecretBox, hash_password, load_key, new_api_key
from csapi.db.models import (
    Account,
    Configuration,
    Domain,
    DomainDetail,
    Event,
    User,
    Webhook,
    WebhookDelivery,
    WebhookDispatchEvent,
    WebhookDispatchJob,
    WebhookFilter,
)
from csapi.seed import DEFAULT_ROLE_FOR_TYPE, seed
from tests.client import ApiClient
from tests.receivers import Receiver
from tests.server import DatabaseFactory, RunningServer

ADMIN_ACCOUNT_ID = 2
ADMIN_USER_ID = 2

# Small timeouts so the suite stays fast; cleanup is kept out of the way unless a test wants it.
FAST_SETTINGS = {
    "webhook.delivery.timeout": "2",
    "webhook.delivery.tries": "1",
    "webhook.deliveries.cleanup.initial.delay": "3600",
}


def now() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


@dataclass(frozen=True)
class DomainRef:
    id: int
    uuid: str
    path: str


@dataclass
class Tenant:
    """An account with a user `name` (password "password", API keys) and a spare user whose
    keys the first one re-registers to make REGISTER.USER.KEY events of this account."""

    account_id: int
    account_uuid: str
    name: str
    domain_id: int
    user_id: int
    user_uuid: str
    api_key: str
    secret: str
    spare_user_uuids: list[str]

    @property
    def spare_user_uuid(self) -> str:
        return self.spare_user_uuids[0]


@dataclass(frozen=True)
class HookRef:
    id: int
    uuid: str
    name: str


class Env:
    """One database (migrated and seeded here, before any server starts)."""

    def __init__(self, url: str, settings: dict[str, str] | None = None) -> None:
        self.url = url
        dblib.upgrade(url)
        self.engine = dblib.make_engine(url)
        self.sessions = dblib.make_sessionmaker(self.engine)
        self.secrets = SecretBox(load_key())
        with self.tx() as db:
            seed(db)
        self.set_global({**FAST_SETTINGS, **(settings or {})})
        self.admin = self._admin_tenant()

    def tx(self) -> Any:
        return dblib.transaction(self.sessions)

    def close(self) -> None:
        self.engine.dispose()

    # --- settings -------------------------------------------------------------------------

    def set_global(self, values: dict[str, str]) -> None:
        with self.tx() as db:
            for name, value in values.items():
                row = db.get(Configuration, name)
                assert row is not None, f"unknown setting {name}"
                row.value = value

    def set_domain(self, domain_id: int, values: dict[str, str]) -> None:
        """Domain-scoped values, as updateConfiguration domainid= stores them."""
        with self.tx() as db:
            for name, value in values.items():
                db.execute(delete(DomainDetail).where(DomainDetail.domain_id == domain_id,
                                                      DomainDetail.name == name))
                db.add(DomainDetail(domain_id=domain_id, name=name, value=value))

    # --- tenancy ----------------------------------------------------------------------------

    def domain(self, name: str, parent: int = 1) -> DomainRef:
        with self.tx() as db:
            up = db.get(Domain, parent)
            assert up is not None
            row = Domain(uuid=str(uuid.uuid4()), parent=up.id, name=name, owner=2,
                         path=f"{up.path}{name}/", level=up.level + 1, state="Active",
                         created=now())
            db.add(row)
            up.child_count = (up.child_count or 0) + 1
            db.flush()
            return DomainRef(row.id, row.uuid or "", row.path)

    def tenant(self, name: str, domain_id: int = 1, account_type: int = 0,
               spares: int = 1) -> Tenant:
        with self.tx() as db:
            account = Account(uuid=str(uuid.uuid4()), account_name=name, type=account_type,
                              role_id=DEFAULT_ROLE_FOR_TYPE[account_type], domain_id=domain_id,
                              state="enabled", created=now())
            db.add(account)
            db.flush()
            users = []
            for i, username in enumerate((name, *(f"{name}-spare{i}" for i in range(spares)))):
                api_key, secret = new_api_key(), new_api_key()
                user = User(uuid=str(uuid.uuid4()), username=username,
                            password=None if i else hash_password("password"),
                            account_id=account.id,
                            firstname=username, lastname="Test", email=f"{username}@example.com",
                            state="enabled", api_key=api_key,
                            secret_key=self.secrets.encrypt(secret), created=now())
                db.add(user)
                db.flush()
                users.append((user, api_key, secret))
            user, api_key, secret = users[0]
            return Tenant(account.id, account.uuid or "", name, domain_id, user.id,
                          user.uuid or "", api_key, secret,
                          [spare.uuid or "" for spare, _, _ in users[1:]])

    def _admin_tenant(self, spares: int = 4) -> Tenant:
        """The seeded root admin, with API keys and `spares` users of its own account."""
        api_key, secret = new_api_key(), new_api_key()
        with self.tx() as db:
            admin = db.get(User, ADMIN_USER_ID)
            account = db.get(Account, ADMIN_ACCOUNT_ID)
            assert admin is not None and account is not None
            admin.api_key, admin.secret_key = api_key, self.secrets.encrypt(secret)
            uuids = []
            for i in range(spares):
                spare = User(uuid=str(uuid.uuid4()), username=f"admin-spare{i}", password=None,
                             account_id=ADMIN_ACCOUNT_ID, firstname="spare", lastname="admin",
                             state="enabled", created=now())
                db.add(spare)
                db.flush()
                uuids.append(spare.uuid or "")
            return Tenant(account.id, account.uuid or "", "admin", account.domain_id, admin.id,
                          admin.uuid or "", api_key, secret, uuids)

    # --- webhooks ---------------------------------------------------------------------------

    def webhook(self, owner: Tenant, url: str, *, scope: str = "Local",
                secret: str | None = None, state: str = "Enabled",
                domain_id: int | None = None, name: str | None = None,
                filters: Iterable[tuple[str, str, str]] = (), removed: bool = False) -> HookRef:
        """A webhook row as createWebhook stores it; filters are (mode, matchtype, value)."""
        with self.tx() as db:
            row = Webhook(uuid=str(uuid.uuid4()), name=name or f"hook-{uuid.uuid4().hex[:6]}",
                          description=None, state=state,
                          domain_id=domain_id if domain_id is not None else owner.domain_id,
                          account_id=owner.account_id, payload_url=url,
                          secret_key=self.secrets.encrypt(secret) if secret else None,
                          ssl_verification=False, scope=scope, created=now(),
                          removed=now() if removed else None)
            db.add(row)
            db.flush()
            for mode, match_type, value in filters:
                db.add(WebhookFilter(uuid=str(uuid.uuid4()), webhook_id=row.id,
                                     type="EventType", mode=mode, match_type=match_type,
                                     value=value, created=now()))
            return HookRef(row.id, row.uuid or "", row.name)

    def set_webhook(self, hook: HookRef, **values: Any) -> None:
        with self.tx() as db:
            db.execute(update(Webhook).where(Webhook.id == hook.id).values(**values))

    # --- reading back -----------------------------------------------------------------------

    def deliveries(self, hook: HookRef | None = None) -> list[WebhookDelivery]:
        with self.tx() as db:
            stmt = select(WebhookDelivery).order_by(WebhookDelivery.id)
            if hook is not None:
                stmt = stmt.where(WebhookDelivery.webhook_id == hook.id)
            return list(db.scalars(stmt))

    def delivery_count(self, hook: HookRef | None = None) -> int:
        with self.tx() as db:
            stmt = select(func.count()).select_from(WebhookDelivery)
            if hook is not None:
                stmt = stmt.where(WebhookDelivery.webhook_id == hook.id)
            return int(db.scalar(stmt) or 0)

    def wait_deliveries(self, count: int, hook: HookRef | None = None,
                        timeout: float = 15.0) -> list[WebhookDelivery]:
        """Wait until at least `count` history rows exist (of `hook`, or in all)."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.delivery_count(hook)
            if n >= count:
                return self.deliveries(hook)
            if time.monotonic() > deadline:
                raise AssertionError(f"{n} deliveries recorded, expected {count} within "
                                     f"{timeout} s")
            time.sleep(0.1)

    def events(self, event_type: str | None = None) -> list[Event]:
        with self.tx() as db:
            stmt = select(Event).order_by(Event.id)
            if event_type is not None:
                stmt = stmt.where(Event.type == event_type)
            return list(db.scalars(stmt))

    def event(self, event_id: int) -> Event:
        with self.tx() as db:
            row = db.get(Event, event_id)
            assert row is not None
            return row

    def queued(self) -> tuple[int, int]:
        """(events awaiting fan-out, jobs awaiting delivery)."""
        with self.tx() as db:
            inbox = db.scalar(select(func.count()).select_from(WebhookDispatchEvent))
            jobs = db.scalar(select(func.count()).select_from(WebhookDispatchJob))
            return int(inbox or 0), int(jobs or 0)

    def rows_per_pair(self) -> dict[tuple[int, int], int]:
        """History rows per (event id, webhook id)."""
        with self.tx() as db:
            rows = db.execute(select(WebhookDelivery.event_id, WebhookDelivery.webhook_id,
                                     func.count()).group_by(WebhookDelivery.event_id,
                                                            WebhookDelivery.webhook_id))
            return {(e, w): int(n) for e, w, n in rows}

    def run(self, fn: Callable[[Session], Any]) -> Any:
        with self.tx() as db:
            return fn(db)


# --- talking to a running server ------------------------------------------------------------

class _Response:
    def __init__(self, resp: requests.Response) -> None:
        self._resp = resp
        self.status_code = resp.status_code
        self.headers = resp.headers

    def get_data(self, as_text: bool = False) -> Any:
        return self._resp.text if as_text else self._resp.content


class HttpTransport:
    """The slice of Flask's test client that tests.client.ApiClient uses, over real HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def get(self, path: str) -> _Response:
        return _Response(self.session.get(self.base + path, timeout=30))

    def post(self, path: str, data: str, content_type: str) -> _Response:
        return _Response(self.session.post(self.base + path, data=data, timeout=30,
                                           headers={"Content-Type": content_type}))

    def close(self) -> None:
        self.session.close()


def client(server: RunningServer, who: Tenant) -> ApiClient:
    return ApiClient(HttpTransport(server.base), who.api_key, who.secret)


def make_event(api: ApiClient, who: Tenant, spare: int = 0) -> None:
    """One REGISTER.USER.KEY event owned by `who`'s account (new keys for a spare user)."""
    api.ok("registerUserKeys", id=who.spare_user_uuids[spare])


def make_events(server: RunningServer, who: Tenant, count: int, threads: int = 4,
                first_spare: int = 0) -> None:
    """`count` events of `who`'s account, made by `threads` parallel API clients (each
    re-registering the keys of its own spare user, from `first_spare` on)."""
    assert first_spare + threads <= len(who.spare_user_uuids)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        api = client(server, who)
        try:
            for _ in range(k, count, threads):
                make_event(api, who, spare=first_spare + k)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            api.http.close()

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]


def login(server: RunningServer, username: str, domain: DomainRef | None = None) -> None:
    """One USER.LOGIN event of the user's account."""
    data = {"command": "login", "username": username, "password": "password",
            "response": "json"}
    if domain is not None:
        data["domainId"] = domain.uuid
    resp = requests.post(server.url, data=data, timeout=30)
    assert resp.status_code == 200, resp.text


# --- factories behind the test modules' fixtures -------------------------------------------

def env_factory(fresh_database: DatabaseFactory) -> Iterator[Callable[..., Env]]:
    """Yields `make(settings)` -> an Env on a new database with FAST_SETTINGS plus
    `settings`; disposes of them afterwards."""
    envs: list[Env] = []

    def make(settings: dict[str, str] | None = None) -> Env:
        env = Env(fresh_database(), settings)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    """Yields `make(**kwargs)` -> a started Receiver; closes them afterwards."""
    started: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        rx = Receiver(**kwargs)
        started.append(rx)
        return rx

    yield make
    for rx in started:
        rx.close()

"""Set-up and inspection for the webhook dispatcher tests against real `csapi serve` processes.

    env = make_env({"webhook.dispatch.thread.pool.size": "1"})   # global settings, written
    server = env.start(serve)                                      # before the server starts
    dom = env.domain("D1")                                         # createDomain
    alice = env.tenant("alice", dom)                               # createAccount, keys, ...
    env.set_domain(dom, {"webhook.delivery.tries": "2"})           # updateConfiguration
    hook = env.webhook(alice, rx.url, secret="s")                  # createWebhook
    env.baseline(rx)             # set-up events delivered; only later ones count from here
    make_event(env.client(alice), alice)                           # REGISTER.USER.KEY
    env.wait_deliveries(1); env.deliveries(hook)                   # history rows, read back

Everything is created through the API. Global settings are written to the `configuration`
table before the first server starts (some are read only at start). The set-up calls record
events of their own (createWebhook, updateConfiguration, ...) that reach webhooks created
earlier; `baseline()` waits until they are delivered and then hides them: every query here
only sees events recorded after it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from csapi import db as dblib
from csapi.db.models import (
    Account,
    Configuration,
    Domain,
    Event,
    Webhook,
    WebhookDelivery,
    WebhookDispatchEvent,
    WebhookDispatchJob,
)
from csapi.seed import seed
from tests.client import ApiClient
from tests.receivers import Receiver
from tests.server import DatabaseFactory, RunningServer, ServerFactory

MSID = 4242
PASSWORD = "password"

# Small timeouts so the suite stays fast; cleanup is kept out of the way.
FAST_SETTINGS = {
    "webhook.delivery.timeout": "2",
    "webhook.delivery.tries": "1",
    "webhook.deliveries.cleanup.initial.delay": "3600",
}


@dataclass(frozen=True)
class DomainRef:
    id: int
    uuid: str
    name: str


@dataclass
class Tenant:
    """An account with a user `name` (password "password", API keys) and spare users whose
    keys that user re-registers to make REGISTER.USER.KEY events of this account."""

    account_id: int
    account_uuid: str
    name: str
    domain: DomainRef
    user_uuid: str
    api_key: str
    secret: str
    spare_user_uuids: list[str]

    @property
    def domain_id(self) -> int:
        return self.domain.id


@dataclass(frozen=True)
class HookRef:
    id: int
    uuid: str
    name: str


class Env:
    """One database and the servers on it."""

    def __init__(self, url: str, settings: dict[str, str] | None = None) -> None:
        self.url = url
        dblib.upgrade(url)
        self.engine = dblib.make_engine(url)
        self.sessions = dblib.make_sessionmaker(self.engine)
        with self.tx() as db:
            seed(db)
        self.set_global({**FAST_SETTINGS, **(settings or {})})
        self.since = 0  # events up to this id belong to the set-up
        self.server: RunningServer | None = None
        self._admin: Tenant | None = None
        self._clients: list[ApiClient] = []
        self._api: ApiClient | None = None

    def tx(self) -> Any:
        return dblib.transaction(self.sessions)

    def close(self) -> None:
        for api in self._clients:
            api.http.close()
        self.engine.dispose()

    def set_global(self, values: dict[str, str]) -> None:
        """Global values as stored by updateConfiguration, for settings read at start."""
        with self.tx() as db:
            for name, value in values.items():
                row = db.get(Configuration, name)
                assert row is not None, f"unknown setting {name}"
                row.value = value

    # --- servers ------------------------------------------------------------------------------

    def start(self, serve: ServerFactory, msid: int = MSID, **kwargs: Any) -> RunningServer:
        """Start a server on this database; the first one also becomes the set-up server."""
        server = serve(self.url, msid=msid, **kwargs)
        if self.server is None or not self.server.running:
            self.server = server
        return server

    @property
    def admin(self) -> Tenant:
        """The seeded root admin (keys registered through login + registerUserKeys), with
        four spare users of its own account."""
        if self._admin is None:
            self._admin = self._bootstrap_admin()
        return self._admin

    def _bootstrap_admin(self) -> Tenant:
        server = self._server()
        http = requests.Session()
        resp = http.post(server.url, data={"command": "login", "username": "admin",
                                           "password": PASSWORD, "response": "json"}, timeout=30)
        assert resp.status_code == 200, resp.text
        login = resp.json()["loginresponse"]
        resp = http.get(server.url, params={"command": "registerUserKeys", "id": login["userid"],
                                            "sessionkey": login["sessionkey"],
                                            "response": "json"}, timeout=30)
        assert resp.status_code == 200, resp.text
        keys = resp.json()["registeruserkeysresponse"]["userkeys"]
        http.close()
        root = self._domain_ref(login["domainid"])
        account = self._account_row(login["account"], root.id)
        admin = Tenant(account.id, account.uuid or "", login["account"], root, login["userid"],
                       keys["apikey"], keys["secretkey"], [])
        self._admin = admin
        admin.spare_user_uuids = self._spares(admin, 4)
        return admin

    def _server(self) -> RunningServer:
        assert self.server is not None and self.server.running, "start a server first"
        return self.server

    def client(self, who: Tenant, server: RunningServer | None = None) -> ApiClient:
        api = ApiClient(HttpTransport((server or self._server()).base), who.api_key, who.secret)
        self._clients.append(api)
        return api

    @property
    def api(self) -> ApiClient:
        """The root admin's client on the set-up server."""
        if self._api is None or self._api.http.base != self._server().base:
            self._api = self.client(self.admin)
        return self._api

    # --- tenancy --------------------------------------------------------------------------

    def domain(self, name: str, parent: DomainRef | None = None) -> DomainRef:
        params = {"name": name}
        if parent is not None:
            params["parentdomainid"] = parent.uuid
        body = self.api.ok("createDomain", **params)["domain"]
        return self._domain_ref(body["id"])

    def tenant(self, name: str, domain: DomainRef | None = None, account_type: int = 0,
               spares: int = 1) -> Tenant:
        """createAccount (user `name`), registerUserKeys for it, createUser for spares."""
        domain = domain or self.admin.domain
        api = self.api
        body = api.ok("createAccount", accounttype=account_type, username=name,
                      password=PASSWORD, email=f"{name}@example.com", firstname=name,
                      lastname="Test", domainid=domain.uuid)["account"]
        user_uuid = body["user"][0]["id"]
        keys = api.ok("registerUserKeys", id=user_uuid)["userkeys"]
        account = self._account_row(name, domain.id)
        who = Tenant(account.id, account.uuid or "", name, domain, user_uuid, keys["apikey"],
                     keys["secretkey"], [])
        who.spare_user_uuids = self._spares(who, spares)
        return who

    def _spares(self, who: Tenant, count: int) -> list[str]:
        uuids = []
        for i in range(count):
            body = self.api.ok("createUser", account=who.name, domainid=who.domain.uuid,
                               username=f"{who.name}-spare{i}", password=PASSWORD,
                               email=f"{who.name}-spare{i}@example.com", firstname="spare",
                               lastname=who.name)
            uuids.append(body["user"]["id"])
        return uuids

    def set_domain(self, domain: DomainRef, values: dict[str, str]) -> None:
        """Domain-scoped values through updateConfiguration domainid=."""
        for name, value in values.items():
            body = self.api.ok("updateConfiguration", name=name, value=value,
                               domainid=domain.uuid)["configuration"]
            assert body["value"] == value, body

    def _domain_ref(self, uuid: str) -> DomainRef:
        with self.tx() as db:
            row = db.scalar(select(Domain).where(Domain.uuid == uuid))
            assert row is not None, uuid
            return DomainRef(row.id, uuid, row.name or "")

    def _account_row(self, name: str, domain_id: int) -> Account:
        with self.tx() as db:
            row = db.scalar(select(Account).where(Account.account_name == name,
                                                  Account.domain_id == domain_id,
                                                  Account.removed.is_(None)))
            assert row is not None, name
            return row

    # --- webhooks -------------------------------------------------------------------------

    def webhook(self, owner: Tenant, url: str, *, scope: str | None = None,
                secret: str | None = None, state: str | None = None,
                domain: DomainRef | None = None, name: str | None = None,
                filters: Iterable[tuple[str, str, str]] = ()) -> HookRef:
        """createWebhook by the root admin for `owner` (addWebhookFilter for each (mode,
        matchtype, value))."""
        params: dict[str, Any] = {"name": name or f"hook-{uuid.uuid4().hex[:8]}",
                                  "payloadurl": url, "scope": scope, "secretkey": secret,
                                  "state": state}
        if owner.account_id != self.admin.account_id:
            params.update(account=owner.name, domainid=owner.domain.uuid)
        if domain is not None:
            params["domainid"] = domain.uuid
        body = self.api.ok("createWebhook", **params)["webhook"]
        for mode, match_type, value in filters:
            self.api.ok("addWebhookFilter", webhookid=body["id"], mode=mode,
                        matchtype=match_type, value=value)
        with self.tx() as db:
            hook_id = db.scalar(select(Webhook.id).where(Webhook.uuid == body["id"]))
        return HookRef(int(hook_id), body["id"], body["name"])

    def delete_webhook(self, hook: HookRef) -> None:
        self.api.ok("deleteWebhook", id=hook.uuid)

    def baseline(self, *receivers: Receiver, timeout: float = 30.0) -> None:
        """Let the set-up's own events be delivered, then count only later ones."""
        self.settle(timeout)
        with self.tx() as db:
            self.since = int(db.scalar(select(func.max(Event.id))) or 0)
        for rx in receivers:
            rx.reset()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until nothing is left to fan out or deliver."""
        deadline = time.monotonic() + timeout
        while self.queued() != (0, 0):
            assert time.monotonic() < deadline, f"still queued: {self.queued()}"
            time.sleep(0.05)

    # --- reading back (events after the baseline only) ------------------------------------

    def deliveries(self, hook: HookRef | None = None) -> list[WebhookDelivery]:
        with self.tx() as db:
            stmt = select(WebhookDelivery).where(WebhookDelivery.event_id > self.since)
            if hook is not None:
                stmt = stmt.where(WebhookDelivery.webhook_id == hook.id)
            return list(db.scalars(stmt.order_by(WebhookDelivery.id)))

    def delivery_count(self, hook: HookRef | None = None) -> int:
        with self.tx() as db:
            stmt = select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.event_id > self.since)
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
            stmt = select(Event).where(Event.id > self.since)
            if event_type is not None:
                stmt = stmt.where(Event.type == event_type)
            return list(db.scalars(stmt.order_by(Event.id)))

    def event(self, event_id: int) -> Event:
        with self.tx() as db:
            row = db.get(Event, event_id)
            assert row is not None
            return row

    def queued(self) -> tuple[int, int]:
        """(events awaiting fan-out, jobs awaiting delivery), whenever recorded."""
        with self.tx() as db:
            inbox = db.scalar(select(func.count()).select_from(WebhookDispatchEvent))
            jobs = db.scalar(select(func.count()).select_from(WebhookDispatchJob))
            return int(inbox or 0), int(jobs or 0)

    def rows_per_pair(self) -> dict[tuple[int, int], int]:
        """History rows per (event id, webhook id)."""
        with self.tx() as db:
            rows = db.execute(
                select(WebhookDelivery.event_id, WebhookDelivery.webhook_id, func.count())
                .where(WebhookDelivery.event_id > self.since)
                .group_by(WebhookDelivery.event_id, WebhookDelivery.webhook_id))
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
        return _Response(self.session.get(self.base + path, timeout=60))

    def post(self, path: str, data: str, content_type: str) -> _Response:
        return _Response(self.session.post(self.base + path, data=data, timeout=60,
                                           headers={"Content-Type": content_type}))

    def close(self) -> None:
        self.session.close()


def make_event(api: ApiClient, who: Tenant, spare: int = 0) -> None:
    """One REGISTER.USER.KEY event owned by `who`'s account (new keys for a spare user)."""
    api.ok("registerUserKeys", id=who.spare_user_uuids[spare])


def make_events(env: Env, server: RunningServer, who: Tenant, count: int, threads: int = 4,
                first_spare: int = 0) -> None:
    """`count` events of `who`'s account through `server`, made by `threads` parallel API
    clients (each re-registering the keys of its own spare user, from `first_spare` on)."""
    assert first_spare + threads <= len(who.spare_user_uuids)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        api = env.client(who, server)
        try:
            for _ in range(k, count, threads):
                make_event(api, who, spare=first_spare + k)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]


def login(server: RunningServer, who: Tenant) -> None:
    """One USER.LOGIN event of the user's account."""
    data = {"command": "login", "username": who.name, "password": PASSWORD,
            "domainId": who.domain.uuid, "response": "json"}
    resp = requests.post(server.url, data=data, timeout=60)
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

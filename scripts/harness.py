"""Shared by scripts/faults.py and scripts/soak.py: databases, `csapi serve` processes, a
signing API client, event load, process sampling and the delivery ledger. Loopback only."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# One key for the script and every server it starts, so both can read the secrets.
os.environ.setdefault("CSAPI_ENCRYPTION_KEY",
                      base64.urlsafe_b64encode(b"csapi-faults-key-0123456789abcd!").decode())

import requests  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from csapi import db as dblib  # noqa: E402
from csapi.api.signing import compute_signature  # noqa: E402
from csapi.crypto import SecretBox, load_key, new_api_key  # noqa: E402
from csapi.db.models import (  # noqa: E402
    Configuration,
    Event,
    User,
    Webhook,
    WebhookDelivery,
    WebhookDispatchEvent,
    WebhookDispatchJob,
)
from csapi.seed import seed  # noqa: E402

MYSQL = os.environ.get("CSAPI_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
EVENT = "REGISTER.USER.KEY"
SETTINGS = {
    "webhook.delivery.timeout": "2", "webhook.delivery.tries": "1",
    # Keep every history row: the ledger counts them.
    "webhook.dispatch.history.limit": "100000000",
    "webhook.deliveries.cleanup.initial.delay": "86400",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- databases ----------------------------------------------------------------------------

@dataclass
class Database:
    backend: str
    url: str
    name: str = ""  # MariaDB schema

    def engine(self) -> Any:
        return dblib.make_engine(self.url)

    def drop(self) -> None:
        """Drop the schema; first end whatever still holds it (ours only), so that a crashed
        run can't leave DROP waiting on a metadata lock."""
        if self.backend != "mysql":
            return
        server = create_engine(MYSQL + "/")
        with server.connect() as conn:
            me = conn.scalar(text("SELECT CONNECTION_ID()"))
            for (conn_id,) in conn.execute(text(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db"),
                    {"db": self.name}):
                if conn_id != me:
                    try:
                        conn.execute(text(f"KILL CONNECTION {int(conn_id)}"))
                    except Exception:  # noqa: BLE001 - it ended by itself meanwhile
                        pass
            conn.execute(text("SET SESSION lock_wait_timeout = 30"))
            conn.execute(text(f"DROP DATABASE IF EXISTS {self.name}"))
        server.dispose()


def new_database(backend: str, folder: Path) -> Database:
    if backend == "sqlite":
        return Database(backend, f"sqlite:///{folder / f'csapi-{uuid.uuid4().hex[:6]}.db'}")
    name = f"csapi_fault_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    server = create_engine(MYSQL + "/")
    with server.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    server.dispose()
    return Database(backend, f"{MYSQL}/{name}?charset=utf8mb4", name)


@dataclass
class World:
    """A prepared database: the admin's keys, spare users (one per load thread) and
    webhooks of the admin's account."""

    db: Database
    api_key: str
    secret: str
    spares: list[str]
    hooks: list[int] = field(default_factory=list)


def prepare(db: Database, *, spares: int = 4, settings: dict[str, str] | None = None) -> World:
    dblib.upgrade(db.url)
    engine = db.engine()
    sessions = dblib.make_sessionmaker(engine)
    box = SecretBox(load_key())
    api_key, secret = new_api_key(), new_api_key()
    with dblib.transaction(sessions) as s:
        seed(s)
        for name, value in {**SETTINGS, **(settings or {})}.items():
            s.get(Configuration, name).value = value
        admin = s.get(User, 2)
        admin.api_key, admin.secret_key = api_key, box.encrypt(secret)
        uuids = []
        for i in range(spares):
            spare = User(uuid=str(uuid.uuid4()), username=f"spare{i}", account_id=2,
                         firstname="s", lastname="s", state="enabled")
            s.add(spare)
            s.flush()
            uuids.append(spare.uuid)
    engine.dispose()
    return World(db, api_key, secret, uuids)


def add_webhooks(world: World, urls: list[str]) -> list[int]:
    """Local webhooks of the admin account (rows as createWebhook writes them)."""
    engine = world.db.engine()
    ids = []
    with dblib.transaction(dblib.make_sessionmaker(engine)) as s:
        for url in urls:
            hook = Webhook(uuid=str(uuid.uuid4()), name=f"h-{uuid.uuid4().hex[:6]}",
                           state="Enabled", domain_id=1, account_id=2, payload_url=url,
                           secret_key=None, ssl_verification=False, scope="Local")
            s.add(hook)
            s.flush()
            ids.append(hook.id)
    engine.dispose()
    world.hooks += ids
    return ids


# --- servers ------------------------------------------------------------------------------

class Server:
    """One `csapi serve` process in a folder of its own."""

    def __init__(self, url: str, *, msid: int = 777, folder: Path | None = None,
                 env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="csapi-serve-"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/client/api"
        self.log_path = self.folder / f"server-{self.port}.log"
        cmd = [sys.executable, "-m", "csapi.cli", "serve", "--host", "127.0.0.1", "--port",
               str(self.port), "--database-url", url, "--msid", str(msid)]
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "CSAPI_LOG_LEVEL": "INFO",
                    **(env or {})}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(cmd, cwd=self.folder, env=full_env, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while f"serving on {self.url}" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"csapi serve did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.process.returncode)

    def rss_mb(self) -> float:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0.0
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def fds(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return 0


# --- the API ------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int  # 0: no HTTP answer at all (connection refused, timeout)
    envelope: bool  # CloudStack's JSON envelope with errorcode == status (or a 200)
    text: str
    seconds: float


class Api:
    def __init__(self, url: str, api_key: str, secret: str, timeout: float = 30) -> None:
        self.url, self.key, self.secret, self.timeout = url, api_key, secret, timeout
        self.http = requests.Session()

    def call(self, command: str, **params: str) -> Answer:
        pairs = [("command", command), ("response", "json"), *params.items(),
                 ("apiKey", self.key)]
        pairs.append(("signature", compute_signature(self.secret, pairs)))
        started = time.monotonic()
        try:
            resp = self.http.get(self.url, params=pairs, timeout=self.timeout)
        except requests.RequestException as exc:
            return Answer(0, False, type(exc).__name__, time.monotonic() - started)
        seconds = time.monotonic() - started
        try:
            data = resp.json()
            (_, body), = data.items()
            ok = resp.status_code == 200 or body.get("errorcode") == resp.status_code
        except (ValueError, AttributeError):
            ok = False
        return Answer(resp.status_code, ok, resp.text[:300], seconds)


class Load:
    """Threads that each re-register the keys of their own spare user as fast as they can (or
    at `rate` events a second in all): every success is one REGISTER.USER.KEY event."""

    def __init__(self, world: World, url: str, threads: int, rate: float | None = None) -> None:
        self.world, self.url, self.rate = world, url, rate
        self.answers: list[Answer] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True)
                        for k in range(threads)]

    def start(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> Load:
        self.stopping.set()
        for t in self.threads:
            t.join(60)
        return self

    def _run(self, k: int) -> None:
        api = Api(self.url, self.world.api_key, self.world.secret, timeout=30)
        spare = self.world.spares[k]
        interval = len(self.threads) / self.rate if self.rate else 0.0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            ans = api.call("registerUserKeys", id=spare)
            with self.lock:
                self.answers.append(ans)
            if ans.status == 0:
                time.sleep(0.05)  # nothing listens: don't spin
            if interval:
                next_at += interval
                self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def summary(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for a in list(self.answers):
            out["ok" if a.status == 200 else f"{a.status}" + ("" if a.envelope else "!")] += 1
        return out


class Sampler:
    """RSS and open descriptors of a process, every `every` seconds."""

    def __init__(self, server_pid: Callable[[], Server], every: float = 1.0) -> None:
        self.server = server_pid
        self.every = every
        self.samples: list[tuple[float, float, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()

    def start(self) -> Sampler:
        self.thread.start()
        return self

    def stop(self) -> Sampler:
        self.stopping.set()
        self.thread.join()
        return self

    def _run(self) -> None:
        while not self.stopping.wait(self.every):
            server = self.server()
            self.samples.append((time.monotonic() - self.started, server.rss_mb(),
                                 server.fds()))

    def peak_rss(self) -> float:
        return max((s[1] for s in self.samples), default=0.0)


# --- the ledger ---------------------------------------------------------------------------

@dataclass
class Ledger:
    events: int
    rows: int
    lost: int  # (event, webhook) pairs with no history row
    duplicate_rows: int  # history rows beyond one per pair
    failed: int  # rows whose delivery did not succeed
    queued: int  # events and jobs still waiting


def ledger(db: Database, hooks: list[int], since: int = 0) -> Ledger:
    engine = db.engine()
    with engine.connect() as conn:
        events = [r[0] for r in conn.execute(select(Event.id).where(
            Event.type == EVENT, Event.id > since))]
        per_pair = Counter()
        failed = 0
        for event_id, hook_id, success in conn.execute(select(
                WebhookDelivery.event_id, WebhookDelivery.webhook_id, WebhookDelivery.success)
                .where(WebhookDelivery.event_id > since)):
            per_pair[(event_id, hook_id)] += 1
            failed += not success
        queued = (conn.scalar(select(func.count()).select_from(WebhookDispatchEvent))
                  + conn.scalar(select(func.count()).select_from(WebhookDispatchJob)))
    engine.dispose()
    wanted = {(e, h) for e in events for h in hooks}
    return Ledger(len(events), sum(per_pair.values()), len(wanted - set(per_pair)),
                  sum(n - 1 for n in per_pair.values() if n > 1), failed, int(queued))


def wait_drained(db: Database, timeout: float) -> float:
    """Seconds until nothing is queued (or the timeout)."""
    engine = db.engine()
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            with engine.connect() as conn:
                left = (conn.scalar(select(func.count()).select_from(WebhookDispatchEvent))
                        + conn.scalar(select(func.count()).select_from(WebhookDispatchJob)))
            if not left:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    return time.monotonic() - started


def max_event_id(db: Database) -> int:
    engine = db.engine()
    with engine.connect() as conn:
        value = conn.scalar(select(func.max(Event.id)))
    engine.dispose()
    return int(value or 0)


def bulk_jobs(db: Database, hooks: list[int], events: int) -> int:
    """`events` events of the admin, each already fanned out to every hook: a ready queue."""
    engine = db.engine()
    now = datetime.utcnow().replace(microsecond=0)
    created = 0
    with engine.begin() as conn:
        for _ in range(events):
            event_id = conn.execute(insert(Event).values(
                uuid=str(uuid.uuid4()), type=EVENT, state="Completed", description="bulk",
                user_id=2, account_id=2, domain_id=1, created=now, level="INFO", start_id=0,
                archived=False, display=True)).inserted_primary_key[0]
            conn.execute(insert(WebhookDispatchJob), [
                {"event_id": event_id, "webhook_id": h, "payload": '{"event":"bulk"}',
                 "attempts": 0, "next_attempt": now, "created": now} for h in hooks])
            created += len(hooks)
    engine.dispose()
    return created


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "+".join("-" * (w + 2) for w in widths)
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), line] + [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(out)

"""The system under test and its helpers: a database, `csapi serve` as a real process, signed
API clients, receivers in their own processes, and direct database access.

Every process started here is stopped by the object that started it (by pid, never by name).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from csapi import db as dblib
from csapi.api.signing import compute_signature
from csapi.crypto import SecretBox, load_key, new_api_key
from csapi.db.models import Configuration, User
from csapi.seed import seed

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# Settings every benchmark server gets: the history cleanup stays out of the way unless a
# scenario runs it itself.
BASE_SETTINGS = {"webhook.deliveries.cleanup.initial.delay": "86400"}

# One AES key shared by the bench process and its servers (API secrets are stored encrypted).
os.environ.setdefault("CSAPI_ENCRYPTION_KEY",
                      base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mysql_server_url() -> str:
    return os.environ.get("CSAPI_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")


def child_env() -> dict[str, str]:
    """The environment of every process started here (all run with `python -P`, so that
    PYTHONPATH alone decides where modules come from). CSAPI_BENCH_SOURCE=<folder holding a
    `csapi` package> runs that code instead of this checkout's (to measure a "before"): the
    server, and the baselines' csapi code too."""
    env = dict(os.environ)
    source = env.get("CSAPI_BENCH_SOURCE", "")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (source, str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (from /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --- databases ------------------------------------------------------------------------------

@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database URL; a MySQL schema is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    server = mysql_server_url()
    name = f"csapi_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(server + "/")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        yield f"{server}/{name}?charset=utf8mb4"
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


# --- API client -----------------------------------------------------------------------------

class ApiClient:
    """A signing CloudStack client on one keep-alive connection (one per greenlet)."""

    def __init__(self, port: int, api_key: str, secret: str, timeout: float = 60.0) -> None:
        self.port = port
        self.api_key = api_key
        self.secret = secret
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def signed_path(self, command: str, **params: Any) -> str:
        pairs = [("command", command), ("response", "json")]
        pairs += [(k, str(v).lower() if isinstance(v, bool) else str(v))
                  for k, v in params.items() if v is not None]
        pairs.append(("apiKey", self.api_key))
        pairs.append(("signature", compute_signature(self.secret, pairs)))
        return "/client/api?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in pairs)

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def call(self, command: str, **params: Any) -> tuple[int, dict[str, Any]]:
        status, data = self.get(self.signed_path(command, **params))
        body = json.loads(data)
        return status, next(iter(body.values()))

    def ok(self, command: str, **params: Any) -> dict[str, Any]:
        status, body = self.call(command, **params)
        if status != 200:
            raise RuntimeError(f"{command} answered {status}: {body}")
        return body

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- processes ------------------------------------------------------------------------------

class Receiver:
    """bench.receiver in its own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "bench.receiver", "--port", str(self.port)],
            cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if b"ready" not in line:
            _stop(self.process)
            raise RuntimeError("receiver did not start")
        self.control = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _get(self, path: str) -> Any:
        self.control.request("GET", path)
        return json.loads(self.control.getresponse().read())

    def count(self) -> int:
        return int(self._get("/_stats")["count"])

    def stats(self) -> dict[str, Any]:
        return dict(self._get("/_stats"))

    def records(self, since: int = 0) -> list[tuple[float, str, str, str]]:
        return [tuple(r) for r in self._get(f"/_records?since={since}")]  # type: ignore[misc]

    def reset(self) -> None:
        self._get("/_reset")

    def close(self) -> None:
        self.control.close()
        _stop(self.process, 5)


class Server:
    """`csapi serve` on a free loopback port."""

    def __init__(self, url: str, workdir: Path, msid: int = 9001) -> None:
        self.url = url
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / f"server-{self.port}.log"
        cmd = [sys.executable, "-P", "-m", "csapi.cli", "serve", "--host", "127.0.0.1", "--port",
               str(self.port), "--database-url", url, "--msid", str(msid)]
        env = child_env()
        env.setdefault("CSAPI_LOG_LEVEL", "INFO")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self) -> None:
        banner = f"serving on http://127.0.0.1:{self.port}/client/api"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("csapi serve exited:\n" + self.log()[-4000:])
            if banner in self.log():
                return
            time.sleep(0.05)
        _stop(self.process)
        raise RuntimeError("csapi serve did not start:\n" + self.log()[-4000:])

    def stop(self) -> int:
        return _stop(self.process)


# --- the whole stack ------------------------------------------------------------------------

class Stack:
    """A database prepared with settings, a server on it, the root admin's API keys."""

    def __init__(self, url: str, settings: dict[str, str] | None = None) -> None:
        self.url = url
        self.backend = "sqlite" if url.startswith("sqlite") else "mysql"
        dblib.upgrade(url)
        self.engine = dblib.make_engine(url)
        self.sessions = dblib.make_sessionmaker(self.engine)
        with dblib.transaction(self.sessions) as db:
            seed(db)
        self.set_global({**BASE_SETTINGS, **(settings or {})})
        self.workdir = Path(tempfile.mkdtemp(prefix="csapi-bench-"))
        self.server: Server | None = None
        self.api_key, self.secret = self._admin_keys()

    def tx(self) -> Any:
        return dblib.transaction(self.sessions)

    def set_global(self, values: dict[str, str]) -> None:
        """Global values, written before a server starts (some are read only at start)."""
        with self.tx() as db:
            for name, value in values.items():
                row = db.get(Configuration, name)
                assert row is not None, f"unknown setting {name}"
                row.value = value

    def _admin_keys(self) -> tuple[str, str]:
        api_key, secret = new_api_key(), new_api_key()
        with self.tx() as db:
            user = db.get(User, 2)  # the seeded root admin
            assert user is not None
            user.api_key = api_key
            user.secret_key = SecretBox(load_key()).encrypt(secret)
        return api_key, secret

    def start(self) -> Server:
        assert self.server is None, "one server per stack"
        self.server = Server(self.url, self.workdir)
        return self.server

    def client(self) -> ApiClient:
        assert self.server is not None
        return ApiClient(self.server.port, self.api_key, self.secret)

    def count(self, model: Any, *where: Any) -> int:
        with self.tx() as db:
            return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.engine.dispose()


@contextmanager
def stack(backend: str, settings: dict[str, str] | None = None) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="csapi-bench-db-") as folder:
        with database(backend, Path(folder)) as url:
            s = Stack(url, settings)
            try:
                yield s
            finally:
                s.close()

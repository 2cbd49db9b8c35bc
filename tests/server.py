"""`csapi serve` as a real subprocess, for tests that need real HTTP (clients, webhooks).

    def test_x(serve, fresh_database):                  # fixtures in tests/conftest.py
        srv = serve(fresh_database(), integration_port=True, msid=7)
        api_key, secret = give_keys(srv.database_url)   # admin's keys, written directly
        requests.get(srv.url, params={...})             # http://127.0.0.1:<port>/client/api
        srv.stop()                                      # SIGTERM; asserts exit code 0
        srv.kill()                                      # SIGKILL, for crash tests

Each server runs in its own working folder (its key file and log live there: `srv.log()`), on
a free loopback port; it counts as started once it has logged its "serving on" line for that
port and answers. Servers a test leaves running are stopped with SIGTERM afterwards and must
exit 0. `fresh_database()` gives an empty SQLite file, or a new MariaDB schema in MySQL mode
(failing, never skipping, when MariaDB is unreachable). `module_server()` and the session
fixture `api_server` give one shared server for tests that only need *a* server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    """True once something accepts a connection and answers an HTTP request on `port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /client/api HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


@dataclass
class RunningServer:
    """One `csapi serve` process."""

    process: subprocess.Popen[bytes]
    port: int
    database_url: str
    workdir: Path
    integration_port: int | None = None
    logs_info: bool = True
    returncode: int | None = field(default=None, init=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/client/api"

    @property
    def integration_url(self) -> str:
        assert self.integration_port is not None, "started without integration_port"
        return f"http://127.0.0.1:{self.integration_port}/client/api"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Ask the server to stop and insist that it exits cleanly with code 0."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"csapi serve (pid {self.pid}) ignored signal {sig} for "
                            f"{timeout}s:\n{self.log()[-4000:]}")
        self.returncode = self.process.returncode
        assert self.returncode == 0, (
            f"csapi serve exited with {self.returncode}:\n{self.log()[-4000:]}")
        return self.returncode

    def kill(self) -> None:
        """SIGKILL: the process dies without any clean-up, as in a crash."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.returncode = self.process.returncode


class ServerFactory:
    """Starts servers and guarantees they are gone at the end (stop checks a clean exit)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[RunningServer] = []

    def __call__(self, database_url: str | None, *, integration_port: bool | int = False,
                 msid: int | None = None, env: dict[str, str | None] | None = None,
                 args: list[str] | tuple[str, ...] = ()) -> RunningServer:
        """Start `csapi serve`. `database_url=None` leaves the option out (the server's own
        default: csapi.db in its empty working folder); `env` values of None unset a
        variable (e.g. CSAPI_ENCRYPTION_KEY, to make the server create its key file)."""
        last_log = ""
        for _ in range(3):  # a port picked as free may be taken before the server binds it
            server = self._start(database_url, integration_port, msid, env, list(args))
            failure = self._wait_until_ready(server)
            if failure is None:
                self.servers.append(server)
                return server
            last_log = failure
            if "Address already in use" not in failure:
                break
        pytest.fail(f"csapi serve did not start:\n{last_log[-6000:]}", pytrace=False)

    def _start(self, database_url: str | None, integration_port: bool | int,
               msid: int | None, env: dict[str, str | None] | None,
               args: list[str]) -> RunningServer:
        workdir = self.root / f"server-{len(self.servers)}-{uuid.uuid4().hex[:6]}"
        workdir.mkdir(parents=True)
        port = free_port()
        cmd = [sys.executable, "-m", "csapi.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port)]
        if database_url is not None:
            cmd += ["--database-url", database_url]
        iport = None
        if integration_port:
            iport = free_port() if integration_port is True else int(integration_port)
            cmd += ["--integration-port", str(iport)]
        if msid is not None:
            cmd += ["--msid", str(msid)]
        cmd += args
        full_env = {**os.environ, "CSAPI_LOG_LEVEL": "INFO"}
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        if database_url is None:
            full_env.pop("CSAPI_DATABASE_URL", None)
        # The package is imported from the checkout, whatever the working folder.
        root = str(Path(__file__).resolve().parent.parent)
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, full_env.get("PYTHONPATH", "")) if p)
        log = open(workdir / "server.log", "wb")  # noqa: SIM115 - the child owns it
        try:
            process = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        url = database_url or f"sqlite:///{workdir / 'csapi.db'}"
        logs_info = full_env["CSAPI_LOG_LEVEL"].upper() in ("INFO", "DEBUG")
        return RunningServer(process, port, url, workdir, iport, logs_info)

    def _wait_until_ready(self, server: RunningServer) -> str | None:
        deadline = time.monotonic() + START_TIMEOUT
        ports = [server.port] + ([server.integration_port] if server.integration_port else [])
        # The server logs this once every listener is bound; until then a port that answers
        # may belong to some other process that grabbed it first.
        banner = f"serving on {server.url} " if server.logs_info else ""
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return server.log()
            if banner in server.log() and all(_answers(p) for p in ports):
                return None
            time.sleep(0.05)
        server.kill()
        return "timed out waiting for the server to answer\n" + server.log()

    def stop_all(self) -> None:
        """Stop every server still running; a server that does not exit cleanly fails."""
        errors = []
        for server in self.servers:
            if server.returncode is not None or not server.running:
                if server.returncode is None:
                    server.returncode = server.process.returncode
                    if server.returncode != 0:
                        errors.append(f"pid {server.pid} exited with {server.returncode}")
                continue
            try:
                server.stop()
            except AssertionError as exc:
                errors.append(str(exc))
        self.servers.clear()
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


# --- databases for servers --------------------------------------------------------------

def backend() -> str:
    return os.environ.get("CSAPI_TEST_BACKEND", "sqlite")


@contextmanager
def module_server(tmp: pytest.TempPathFactory, **opts: Any) -> Iterator[RunningServer]:
    """One server on a fresh database for a whole module (use in a module-scoped fixture)."""
    with empty_database(backend(), tmp.mktemp("db")) as url:
        factory = ServerFactory(tmp.mktemp("serve"))
        try:
            yield factory(url, **opts)
        finally:
            factory.stop_all()


def mysql_server_url() -> str:
    return os.environ.get("CSAPI_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")


@contextmanager
def empty_database(backend: str, folder: Path) -> Iterator[str]:
    """A database URL with nothing in it; dropped afterwards (MySQL)."""
    if backend != "mysql":
        yield f"sqlite:///{folder / f'csapi-{uuid.uuid4().hex[:8]}.db'}"
        return
    server_url = mysql_server_url()
    name = f"csapi_srv_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(server_url + "/")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    except Exception as exc:  # noqa: BLE001 - MySQL mode fails, never skips
        engine.dispose()
        pytest.fail(f"MariaDB at {server_url} is unreachable: {exc}", pytrace=False)
    try:
        yield f"{server_url}/{name}?charset=utf8mb4"
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


class DatabaseFactory:
    """`fresh_database()` -> URL of a new empty database, cleaned up with the fixture."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self.folder = folder
        self._open: list[Any] = []

    def __call__(self) -> str:
        cm = empty_database(self.backend, self.folder)
        url = cm.__enter__()
        self._open.append(cm)
        return url

    def close(self) -> None:
        while self._open:
            self._open.pop().__exit__(None, None, None)


def give_keys(database_url: str, user_id: int = 2) -> tuple[str, str]:
    """API keys for a user of a server's database, written directly (as registerUserKeys
    would: the secret encrypted with the key every test process shares)."""
    from csapi.crypto import SecretBox, load_key, new_api_key
    from csapi.db import make_engine, make_sessionmaker, transaction
    from csapi.db.models import User

    api_key, secret = new_api_key(), new_api_key()
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as db:
            user = db.get(User, user_id)
            assert user is not None, f"no user {user_id} in {database_url}"
            user.api_key = api_key
            user.secret_key = SecretBox(load_key()).encrypt(secret)
    finally:
        engine.dispose()
    return api_key, secret

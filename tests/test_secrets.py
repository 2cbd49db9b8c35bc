"""Secrets stay secret: a real `csapi serve` started in an empty folder without
CSAPI_ENCRYPTION_KEY creates its key file with mode 0600; the passwords, API secret keys and
webhook secrets this test hands it (through every command that takes one, in successful and in
failing calls) appear nowhere in plain text: not in the server log (at DEBUG), not in any
column of any table (events, jobs, deliveries and queue included), not in error texts, not in
listConfigurations."""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from csapi.db.models import Base
from tests.client import ApiClient
from tests.receivers import Receiver
from tests.server import DatabaseFactory, RunningServer, ServerFactory
from tests.webhook_env import HttpTransport


def secret(kind: str) -> str:
    return f"{kind}-{pysecrets.token_urlsafe(12)}"


@pytest.fixture
def server(serve: ServerFactory, fresh_database: DatabaseFactory) -> RunningServer:
    return serve(fresh_database(), env={"CSAPI_ENCRYPTION_KEY": None, "CSAPI_KEY_FILE": None,
                                        "CSAPI_LOG_LEVEL": "DEBUG"})


@pytest.fixture
def rx() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def admin_client(server: RunningServer) -> ApiClient:
    """The seeded admin's keys, registered over HTTP (the server's key is not ours)."""
    http = requests.Session()
    resp = http.post(server.url, data={"command": "login", "username": "admin",
                                       "password": "password", "response": "json"}, timeout=30)
    login = resp.json()["loginresponse"]
    keys = http.get(server.url, params={"command": "registerUserKeys", "id": login["userid"],
                                        "sessionkey": login["sessionkey"], "response": "json"},
                    timeout=30).json()["registeruserkeysresponse"]["userkeys"]
    http.close()
    return ApiClient(HttpTransport(server.base), keys["apikey"], keys["secretkey"])


def every_value(url: str) -> list[tuple[str, str, str]]:
    """(table, column, text) for every text value of every table."""
    engine = create_engine(url)
    out = []
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                result = conn.execute(text(f"SELECT * FROM {table.name}"
                                           if engine.dialect.name == "sqlite" else
                                           f"SELECT * FROM `{table.name}`"))
                for row in result.mappings():
                    for column, value in row.items():
                        if isinstance(value, bytes):
                            value = value.decode("utf-8", "replace")
                        if isinstance(value, str):
                            out.append((table.name, column, value))
    finally:
        engine.dispose()
    return out


def test_key_file_is_0600_and_no_secret_is_stored_logged_or_echoed(server, rx) -> None:
    key_file = server.workdir / "csapi.key"
    assert key_file.exists() and key_file.stat().st_mode & 0o777 == 0o600
    api = admin_client(server)
    mine: dict[str, str] = {}  # label -> secret value
    errors: list[str] = []

    def fails(command: str, **params: Any) -> None:
        res = api.call(command, **params)
        assert res.status != 200, (command, res.body)
        errors.append(res.error or "")
        errors.append(res.headers.get("X-Description", ""))

    # Passwords: at creation, changed by an admin, changed by the user itself.
    mine["password"] = secret("pw")
    account = api.ok("createAccount", accounttype=0, username="alice", password=mine["password"],
                     email="alice@example.com", firstname="A", lastname="L")["account"]
    user_id = account["user"][0]["id"]
    mine["password2"] = secret("pw")
    api.ok("updateUser", id=user_id, password=mine["password2"])
    keys = api.ok("registerUserKeys", id=user_id)["userkeys"]
    mine["registered secret key"] = keys["secretkey"]
    alice = ApiClient(HttpTransport(server.base), keys["apikey"], keys["secretkey"])
    mine["password3"] = secret("pw")
    alice.ok("updateUser", id=user_id, password=mine["password3"],
             currentpassword=mine["password2"])
    wrong = secret("pw")
    res = alice.call("updateUser", id=user_id, password=secret("pw"), currentpassword=wrong)
    assert res.status == 431, res.body
    errors.append(res.error or "")
    # A user-chosen API secret key.
    mine["chosen secret key"] = secret("sk")
    api.ok("updateUser", id=user_id, userapikey=secret("ak"),
           usersecretkey=mine["chosen secret key"])
    # Webhook secrets: created, updated, used for a test delivery, and a real delivery.
    mine["webhook secret"] = secret("wh")
    hook = api.ok("createWebhook", name="h", payloadurl=rx.url,
                  secretkey=mine["webhook secret"])["webhook"]
    mine["webhook secret 2"] = secret("wh")
    api.ok("updateWebhook", id=hook["id"], secretkey=mine["webhook secret 2"])
    mine["ad-hoc secret"] = secret("wh")
    api.ok("executeWebhookDelivery", webhookid=hook["id"], secretkey=mine["ad-hoc secret"])
    api.ok("registerUserKeys", id=user_id)  # an event for the webhook
    rx.wait_for(2, timeout=15)
    # Failing calls that carry secrets: none of them may echo one.
    fails("createWebhook", name="bad", payloadurl="http://169.254.169.254/",
          secretkey=mine["webhook secret"])
    fails("createWebhook", name="bad", payloadurl=rx.url, secretkey="x" * 200 + mine["password"])
    fails("updateWebhook", id=hook["id"], payloadurl="ftp://x/", secretkey=mine["webhook secret"])
    fails("createAccount", accounttype=0, username="alice", password=mine["password"],
          email="alice@example.com", firstname="A", lastname="L")
    fails("updateUser", id=user_id, userapikey="", usersecretkey=mine["chosen secret key"])
    mine["wrong current password"] = wrong
    resp = requests.post(server.url, data={"command": "login", "username": "alice",
                                           "password": mine["password"], "response": "json"},
                         timeout=30)
    assert resp.status_code == 531
    errors.append(resp.text)
    configs = api.ok("listConfigurations", page=1, pagesize=500)
    assert configs["count"] >= 20

    # Let the webhook deliveries be written, then look everywhere.
    deadline = time.monotonic() + 15
    while not [v for t, _c, v in every_value(server.database_url) if t == "webhook_delivery"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    server.stop()
    log = server.log()
    assert "csapi serving on" in log
    key_text = key_file.read_text().strip()
    values = every_value(server.database_url)
    places = {
        "server log": [log],
        "error texts": errors,
        "listConfigurations": [json.dumps(configs)],
        "tables": [v for _t, _c, v in values],
    }
    for label, value in {**mine, "encryption key": key_text}.items():
        for where, texts in places.items():
            found = [t[:120] for t in texts if value in t]
            assert not found, f"{label} found in {where}: {found}"
    # And where they are kept, they are kept encrypted (or hashed).
    stored = [(t, c, v) for t, c, v in values if c in ("secret_key", "password")]
    assert all(v.startswith(("v1:", "pbkdf2:")) for _t, _c, v in stored), stored
    assert {t for t, _c, _v in stored} == {"webhook", "user"}

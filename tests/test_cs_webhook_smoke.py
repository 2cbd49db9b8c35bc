"""CloudStack's own webhook smoke tests (test_webhook_lifecycle.py, 13 cases, and
test_webhook_delivery.py), driven through the real `cs` client over HTTP against `csapi serve`.

Differences from upstream, on purpose: payload URLs point at loopback (this machine has no
internet), and waits are polls with a deadline instead of fixed sleeps.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cs import CloudStack, CloudStackApiException

from tests.server import RunningServer, give_keys, module_server


def ssh_public_key() -> str:
    """A new key each time: CloudStack refuses the same key twice for one account."""
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " smoke@example"


class Receiver:
    """CloudStack's smoke-test receiver: 200, text/html, 'Event with ID: <id> successfully
    processed!', remembering each event's raw body by X-CS-Event-ID."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event_id = self.headers.get("X-CS-Event-ID", "")
                receiver.bodies[event_id] = body
                answer = f"Event with ID: {event_id} successfully processed!".encode()
                self.send_response(200)
                self.send_header("Content-type", "text/html")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class World:
    """A served csapi with a domain, a sub-domain, a domain admin and a normal user."""

    def __init__(self, srv: RunningServer) -> None:
        self.srv = srv
        key, secret = give_keys(srv.database_url)
        self.admin = self.client(key, secret)
        suffix = uuid.uuid4().hex[:6]
        self.domain = self.admin.createDomain(name=f"smoke-{suffix}")["domain"]
        self.subdomain = self.admin.createDomain(
            name=f"sub-{suffix}", parentdomainid=self.domain["id"])["domain"]
        self.domain_admin_account, self.domain_admin = self.account(2, f"dadmin-{suffix}")
        self.user_account, self.user = self.account(0, f"user-{suffix}")

    def client(self, key: str, secret: str) -> CloudStack:
        return CloudStack(endpoint=self.srv.url, key=key, secret=secret, timeout=30)

    def account(self, account_type: int, name: str) -> tuple[dict[str, Any], CloudStack]:
        account = self.admin.createAccount(
            accounttype=account_type, username=name, password="password", email=f"{name}@x.y",
            firstname=name, lastname="Smoke", domainid=self.domain["id"])["account"]
        keys = self.admin.registerUserKeys(id=account["user"][0]["id"])["userkeys"]
        return account, self.client(keys["apikey"], keys["secretkey"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with module_server(tmp_path_factory) as srv:
        yield World(srv)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def lifecycle(api: CloudStack, url: str, *, expect_scope: str = "Local",
              expect_domain: str | None = None, **params: Any) -> dict[str, Any]:
    """runWebhookLifecycleTest: create, check the echo, list by id, delete, list again."""
    name = f"Test-{uuid.uuid4().hex[:8]}"
    hook = api.createWebhook(name=name, payloadurl=url, **params)["webhook"]
    assert hook["name"] == name
    assert hook["payloadurl"] == url
    assert hook["state"] == params.get("state", "Enabled")
    assert hook["scope"] == expect_scope
    assert hook["sslverification"] is params.get("sslverification", False)
    if expect_domain is not None:
        assert hook["domainid"] == expect_domain
    for key in ("account", "description", "secretkey"):
        if key in params:
            assert hook[key] == params[key]
    listed = api.listWebhooks(id=hook["id"])
    assert listed["count"] == 1 and [w["id"] for w in listed["webhook"]] == [hook["id"]]
    assert api.deleteWebhook(id=hook["id"]) == {"success": True}
    assert api.listWebhooks(id=hook["id"]) == {}
    return hook


def test_01_root_admin_defaults(world: World, receiver: Receiver) -> None:
    lifecycle(world.admin, receiver.url + "01")


def test_02_root_admin_domain_scope(world: World, receiver: Receiver) -> None:
    lifecycle(world.admin, receiver.url + "02", scope="Domain", domainid=world.domain["id"],
              expect_scope="Domain", expect_domain=world.domain["id"])


def test_03_root_admin_global_scope(world: World, receiver: Receiver) -> None:
    lifecycle(world.admin, receiver.url + "03", scope="Global", expect_scope="Global")


def test_04_domain_admin_defaults(world: World, receiver: Receiver) -> None:
    lifecycle(world.domain_admin, receiver.url + "04", expect_domain=world.domain["id"])


def test_05_domain_admin_domain_scope_on_subdomain(world: World, receiver: Receiver) -> None:
    lifecycle(world.domain_admin, receiver.url + "05", scope="Domain",
              domainid=world.subdomain["id"], expect_scope="Domain",
              expect_domain=world.subdomain["id"])


def test_06_domain_admin_global_scope_refused(world: World, receiver: Receiver) -> None:
    with pytest.raises(CloudStackApiException) as exc:
        world.domain_admin.createWebhook(name="Test-global", payloadurl=receiver.url + "06",
                                         scope="Global")
    assert exc.value.error["errorcode"] == 431
    assert "Scope Global can not be specified for owner" in exc.value.error["errortext"]


def test_07_user_defaults(world: World, receiver: Receiver) -> None:
    lifecycle(world.user, receiver.url + "07", expect_domain=world.domain["id"])


def test_08_user_domain_scope_ignored(world: World, receiver: Receiver) -> None:
    lifecycle(world.user, receiver.url + "08", scope="Domain", domainid=world.domain["id"],
              expect_scope="Local", expect_domain=world.domain["id"])


def test_09_user_global_scope_ignored(world: World, receiver: Receiver) -> None:
    lifecycle(world.user, receiver.url + "09", scope="Global", expect_scope="Local")


def test_10_root_admin_for_user_all_params(world: World) -> None:
    lifecycle(world.admin, "https://127.0.0.1:9443/hook10",
              account=world.user_account["name"], domainid=world.domain["id"],
              scope="Local", description="Webhook", sslverification=True,
              secretkey="webhook", state="Disabled", expect_domain=world.domain["id"])


def test_11_user_updates(world: World, receiver: Receiver) -> None:
    hook = world.user.createWebhook(name="Test-upd", payloadurl=receiver.url + "11")["webhook"]
    secret = uuid.uuid4().hex
    updated = world.user.updateWebhook(id=hook["id"], description="Updated", secretkey=secret,
                                       state="Disabled")["webhook"]
    assert (updated["description"], updated["secretkey"], updated["state"]) == (
        "Updated", secret, "Disabled")
    world.user.deleteWebhook(id=hook["id"])


def _deliveries(api: CloudStack, webhook_id: str, event_type: str, want: int,
                deadline: float = 20) -> list[dict[str, Any]]:
    """Poll until `want` deliveries of `event_type` are listed (the webhook also gets other
    events of its account, such as its own WEBHOOK.CREATE)."""
    end = time.monotonic() + deadline
    while True:
        listed = api.listWebhookDeliveries(webhookid=webhook_id, page=1, pagesize=20)
        items = listed.get("webhookdelivery", [])
        if [d["eventtype"] for d in items].count(event_type) >= want:
            return items
        if time.monotonic() > end:
            return items
        time.sleep(0.2)


def test_12_deliveries_for_ssh_key_events(world: World, receiver: Receiver) -> None:
    start = (datetime.utcnow() - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    hook = world.user.createWebhook(name="Test-ev", payloadurl=receiver.url + "12")["webhook"]
    world.user.registerSSHKeyPair(name=f"k-{uuid.uuid4().hex[:6]}", publickey=ssh_public_key())
    events = world.admin.listEvents(listall=True, startdate=start,
                                    type="REGISTER.SSH.KEYPAIR").get("event", [])
    assert events, "registerSSHKeyPair recorded no event"
    items = _deliveries(world.user, hook["id"], "REGISTER.SSH.KEYPAIR", len(events))
    assert [d["eventtype"] for d in items].count("REGISTER.SSH.KEYPAIR") == len(events)
    assert world.user.deleteWebhookDelivery(webhookid=hook["id"]) == {"success": True}
    assert world.user.listWebhookDeliveries(webhookid=hook["id"], page=1, pagesize=20) == {}
    world.user.deleteWebhook(id=hook["id"])


def test_13_execute_test_delivery(world: World, receiver: Receiver) -> None:
    hook = world.user.createWebhook(name="Test-ex", payloadurl=receiver.url + "13")["webhook"]
    payload = '{ "CloudStack": "Integration Test" }'
    result = world.user.executeWebhookDelivery(webhookid=hook["id"], payload=payload)
    delivery = result["webhookdelivery"]
    assert delivery["webhookid"] == hook["id"]
    assert delivery["payload"] == payload
    assert delivery["success"] is True
    world.user.deleteWebhook(id=hook["id"])


def test_delivery_smoke(world: World, receiver: Receiver) -> None:
    """test_webhook_delivery.py: every delivery succeeded, its response is the receiver's
    body, its payload is the raw body the receiver got, its eventid is X-CS-Event-ID."""
    hook = world.user.createWebhook(name="Test-dlv", payloadurl=receiver.url)["webhook"]
    world.user.registerSSHKeyPair(name=f"k-{uuid.uuid4().hex[:6]}", publickey=ssh_public_key())
    items = _deliveries(world.user, hook["id"], "REGISTER.SSH.KEYPAIR", 1)
    assert "REGISTER.SSH.KEYPAIR" in [d["eventtype"] for d in items]
    for d in items:
        assert d["success"] is True
        assert d["response"] == f"Event with ID: {d['eventid']} successfully processed!"
        assert receiver.bodies[d["eventid"]].decode() == d["payload"]
    world.user.deleteWebhook(id=hook["id"])

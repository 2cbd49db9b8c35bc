"""listWebhookDeliveries, deleteWebhookDelivery, executeWebhookDelivery: CloudStack's object and
filters, and PRODUCT.md's access rules (no cross-tenant reads, deletes or replays)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from csapi.db import transaction
from csapi.db.models import Event, ManagementServer, WebhookDelivery
from csapi.webhooks import delivery
from tests.factories import create_domain, create_tenant
from tests.webhook_fixtures import count, dns, insert_delivery, snapshot  # noqa: F401

pytestmark = pytest.mark.usefixtures("dns")

DELIVERY_FIELDS = ["id", "eventid", "eventtype", "webhookid", "webhookname",
                   "managementserverid", "managementservername", "headers", "payload",
                   "success", "response", "startdate", "enddate"]
T = datetime(2026, 1, 10, 10, 0, 0)


def at(hour: int, minute: int = 0) -> datetime:
    return T.replace(hour=hour, minute=minute)


@pytest.fixture
def hook(admin) -> dict:
    return admin.ok("createWebhook", name="hooked", payloadurl="http://smee.io/d")["webhook"]


def add_ms(state, msid: int, name: str) -> str:
    with transaction(state.sessions) as db:
        ms = ManagementServer(uuid=str(uuid.uuid4()), msid=msid, name=name, version="4.20.0.0",
                              service_ip="127.0.0.2", service_port=8080, state="Up")
        db.add(ms)
        db.flush()
        return ms.uuid or ""


# --- list --------------------------------------------------------------------------------------

def test_list_answers_webhookdelivery(admin, state, hook) -> None:
    first = insert_delivery(state, hook["id"], event_type="VM.START", start=at(10),
                            end=at(10, 1), payload='{"a":1}', success=True, response="fine")
    second = insert_delivery(state, hook["id"], event_type="VM.STOP", start=at(11),
                             end=at(11, 1), success=False, response="Failed due to : refused")
    res = admin.call("listWebhookDeliveries")
    assert res.status == 200 and res.envelope == "listwebhookdeliveriesresponse"
    body = res.body
    assert body["count"] == 2
    items = body["webhookdelivery"]
    assert [d["id"] for d in items] == [second, first]  # newest first
    d = items[1]
    assert list(d) == DELIVERY_FIELDS
    with transaction(state.sessions) as db:
        row = db.scalar(select(WebhookDelivery).where(WebhookDelivery.uuid == first))
        event = db.get(Event, row.event_id)
        ms = db.scalar(select(ManagementServer).where(ManagementServer.msid == state.msid))
    assert (d["eventid"], d["eventtype"]) == (event.uuid, "VM.START")
    assert (d["webhookid"], d["webhookname"]) == (hook["id"], "hooked")
    assert (d["managementserverid"], d["managementservername"]) == (ms.uuid, ms.name)
    assert (d["headers"], d["payload"], d["success"], d["response"]) == (
        "X-CS-Event: VM.START", '{"a":1}', True, "fine")
    assert (d["startdate"], d["enddate"]) == ("2026-01-10T10:00:00+0000",
                                              "2026-01-10T10:01:00+0000")
    assert items[0]["success"] is False


def test_list_filters(admin, state, hook) -> None:
    other = admin.ok("createWebhook", name="o", payloadurl="http://smee.io/o")["webhook"]
    ms2 = add_ms(state, 2002, "ms-two")
    a = insert_delivery(state, hook["id"], event_type="VM.START", start=at(9), end=at(9, 5),
                        payload='{"vm":"alpha"}')
    b = insert_delivery(state, hook["id"], event_type="VM.STOP", start=at(12), end=at(12, 5),
                        payload='{"vm":"beta"}', msid=2002)
    c = insert_delivery(state, other["id"], event_type="VM.START.EXTRA", start=at(15),
                        end=at(15, 5), payload='{"vm":"gamma"}')

    def ids(**kw) -> list[str]:
        body = admin.ok("listWebhookDeliveries", **kw)
        return [d["id"] for d in body.get("webhookdelivery", [])]

    assert ids() == [c, b, a]
    assert ids(id=b) == [b]
    assert ids(webhookid=hook["id"]) == [b, a]
    assert ids(managementserverid=ms2) == [b]
    assert ids(startdate="2026-01-10 12:00:00") == [c, b]
    assert ids(enddate="2026-01-10 12:05:00") == [b, a]
    assert ids(startdate="2026-01-10 10:00:00", enddate="2026-01-10 13:00:00") == [b]
    assert ids(startdate="2026-01-11") == []
    assert ids(eventtype="VM.START") == [a]  # exact, not a prefix
    assert ids(keyword="beta") == [b]  # on the payload
    assert ids(keyword="hooked") == []
    page = admin.ok("listWebhookDeliveries", page=2, pagesize=2)
    assert page["count"] == 3 and [d["id"] for d in page["webhookdelivery"]] == [a]
    before = snapshot(state)
    admin.fails("listWebhookDeliveries", 431, "Invalid enddate specified",
                startdate="2026-01-10 12:00:00", enddate="2026-01-10 11:59:59")
    admin.fails("deleteWebhookDelivery", 431, "Invalid enddate specified",
                startdate="2026-01-10", enddate="2026-01-09")
    admin.fails("listWebhookDeliveries", 431, "Unable to parse date 10/01/2026 for command "
                "listwebhookdeliveries, please pass dates in the format mentioned in the api "
                "documentation", startdate="10/01/2026")
    assert snapshot(state) == before


def test_management_server_filter_is_root_only(admin, app, state) -> None:
    bob = create_tenant(app, state, "bob")
    hook = bob.client.ok("createWebhook", name="b", payloadurl="http://smee.io/b")["webhook"]
    add_ms(state, 2002, "ms-two")
    mine = insert_delivery(state, hook["id"])
    # The parameter is silently dropped for a user (CloudStack's role-restricted parameters).
    ms2 = admin.ok("listWebhookDeliveries", managementserverid=add_ms(state, 2003, "three"))
    assert ms2 == {}
    listed = bob.client.ok("listWebhookDeliveries", managementserverid=str(uuid.uuid4()))
    assert [d["id"] for d in listed["webhookdelivery"]] == [mine]


def test_list_scoping(admin, app, state) -> None:
    p_id, _ = create_domain(state, "parent")
    c_id, _ = create_domain(state, "child", p_id)
    s_id, _ = create_domain(state, "sibling")
    padmin = create_tenant(app, state, "padmin", p_id, account_type=2)
    alice = create_tenant(app, state, "alice", c_id)
    eve = create_tenant(app, state, "eve", s_id)
    nobody = create_tenant(app, state, "nobody", c_id)
    hooks = {name: client.ok("createWebhook", name=name, payloadurl="http://smee.io/" + name)[
        "webhook"]["id"] for name, client in (("root", admin), ("padmin", padmin.client),
                                             ("alice", alice.client), ("eve", eve.client))}
    ds = {name: insert_delivery(state, hid) for name, hid in hooks.items()}

    def listed(client) -> set[str]:
        return {d["id"] for d in client.ok("listWebhookDeliveries").get("webhookdelivery", [])}

    assert listed(admin) == set(ds.values())
    # A domain admin sees its whole subtree (CloudStack: its own domain only).
    assert listed(padmin.client) == {ds["padmin"], ds["alice"]}
    assert listed(alice.client) == {ds["alice"]}
    assert listed(eve.client) == {ds["eve"]}
    # No webhooks, no deliveries (CloudStack 4.20-4.23 listed everyone's).
    assert nobody.client.ok("listWebhookDeliveries") == {}
    # Deliveries of a removed webhook stay listable by the root admin, and its owner.
    alice.client.ok("deleteWebhook", id=hooks["alice"])
    assert ds["alice"] in listed(admin) and ds["alice"] in listed(alice.client)
    alice.client.fails("listWebhookDeliveries", 431, "Invalid Webhook specified",
                       webhookid=hooks["alice"])


def test_foreign_ids_are_refused(admin, app, state) -> None:
    alice = create_tenant(app, state, "alice")
    bob = create_tenant(app, state, "bob")
    hook = alice.client.ok("createWebhook", name="a", payloadurl="http://smee.io/a")["webhook"]
    d = insert_delivery(state, hook["id"], payload="alice's secret payload")
    denied = f"Account bob does not have permission to operate with resource Webhook {hook['id']}"
    before = snapshot(state)
    bob.client.fails("listWebhookDeliveries", 531, denied, webhookid=hook["id"])
    bob.client.fails("listWebhookDeliveries", 531, denied, id=d)
    bob.client.fails("deleteWebhookDelivery", 531, denied, webhookid=hook["id"])
    bob.client.fails("deleteWebhookDelivery", 531, denied, id=d)
    bob.client.fails("executeWebhookDelivery", 531, denied, id=d)
    bob.client.fails("executeWebhookDelivery", 531, denied, webhookid=hook["id"])
    # Still guarded once the webhook is removed (CloudStack skipped the check then).
    alice.client.ok("deleteWebhook", id=hook["id"])
    before = snapshot(state)
    bob.client.fails("listWebhookDeliveries", 531, denied, id=d)
    bob.client.fails("deleteWebhookDelivery", 531, denied, id=d)
    assert snapshot(state) == before
    assert "secret payload" not in str(bob.client.ok("listWebhookDeliveries"))


# --- delete --------------------------------------------------------------------------------------

def test_delete_by_criteria(admin, state, hook) -> None:
    other = admin.ok("createWebhook", name="o", payloadurl="http://smee.io/o")["webhook"]
    a = insert_delivery(state, hook["id"], start=at(9), end=at(9))
    b = insert_delivery(state, hook["id"], start=at(12), end=at(12))
    c = insert_delivery(state, other["id"], start=at(15), end=at(15))
    d = insert_delivery(state, other["id"], start=at(16), end=at(16), msid=2002)
    add_ms(state, 2002, "ms-two")
    res = admin.call("deleteWebhookDelivery", id=a)
    assert res.status == 200 and res.body == {"success": True}
    assert res.envelope == "deletewebhookdeliveryresponse"
    assert count(state, WebhookDelivery) == 3
    with transaction(state.sessions) as db:
        ms2 = db.scalar(select(ManagementServer.uuid).where(ManagementServer.msid == 2002))
    admin.ok("deleteWebhookDelivery", managementserverid=ms2)
    assert count(state, WebhookDelivery) == 2
    admin.ok("deleteWebhookDelivery", startdate="2026-01-10 14:00:00")
    remaining = {x["id"] for x in admin.ok("listWebhookDeliveries")["webhookdelivery"]}
    assert remaining == {b}
    # Success even when nothing matched.
    admin.ok("deleteWebhookDelivery", webhookid=other["id"])
    admin.ok("deleteWebhookDelivery", webhookid=hook["id"])
    assert count(state, WebhookDelivery) == 0 and c and d


def test_bare_delete_by_non_root_touches_only_its_own(admin, app, state) -> None:
    p_id, _ = create_domain(state, "parent")
    padmin = create_tenant(app, state, "padmin", p_id, account_type=2)
    alice = create_tenant(app, state, "alice", p_id)
    mine = padmin.client.ok("createWebhook", name="p", payloadurl="http://smee.io/p")["webhook"]
    hers = alice.client.ok("createWebhook", name="a", payloadurl="http://smee.io/a")["webhook"]
    root = admin.ok("createWebhook", name="r", payloadurl="http://smee.io/r")["webhook"]
    for h in (mine, hers, root):
        insert_delivery(state, h["id"])
        insert_delivery(state, h["id"], start=at(20))
    # No criteria: only the caller's own webhooks' deliveries (CloudStack deleted all rows).
    padmin.client.ok("deleteWebhookDelivery")
    assert count(state, WebhookDelivery) == 4
    # Dates narrow further; still only its own.
    alice.client.ok("deleteWebhookDelivery", startdate="2026-01-10 19:00:00")
    assert count(state, WebhookDelivery) == 3
    # Naming a webhook of its subtree lets the domain admin delete that history.
    padmin.client.ok("deleteWebhookDelivery", webhookid=hers["id"])
    assert count(state, WebhookDelivery) == 2
    # The root admin's bare delete clears everything.
    admin.ok("deleteWebhookDelivery")
    assert count(state, WebhookDelivery) == 0


# --- execute -------------------------------------------------------------------------------------

class Receiver:
    """A local webhook receiver answering 200 and recording what it got."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append((dict(self.headers.items()), body))
                answer = f"Event with ID: {self.headers['X-CS-Event-ID']} processed".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.mark.parametrize(("params", "text"), [
    ({}, "One of the id, webhookid or payloadurl must be specified"),
    ({"payloadurl": "  "}, "One of the id, webhookid or payloadurl must be specified"),
    ({"payloadurl": "http://169.254.169.254/"},
     "Webhook payload URL [http://169.254.169.254/] resolves to a blocked IP address"),
    ({"payloadurl": "file:///etc/passwd"},
     "Unsupported URL scheme [file], only HTTP/HTTPS are supported"),
    ({"payloadurl": "http://nonexistent.invalid/"},
     "Failed to resolve webhook payload URL host [nonexistent.invalid]"),
])
def test_execute_checks(admin, state, monkeypatch, params, text) -> None:
    calls: list[dict] = []
    monkeypatch.setattr(delivery, "execute_now", lambda ctx, **kw: calls.append(kw) or {})
    before = snapshot(state)
    admin.fails("executeWebhookDelivery", 431, text, **params)
    assert calls == [] and snapshot(state) == before


def test_execute_refs(admin, state, monkeypatch, hook) -> None:
    calls: list[dict] = []
    monkeypatch.setattr(delivery, "execute_now", lambda ctx, **kw: calls.append(kw) or {})
    d = insert_delivery(state, hook["id"])
    admin.fails("executeWebhookDelivery", 431, "Only one of the id or webhookid can be "
                "specified", id=d, webhookid=hook["id"])
    admin.fails("executeWebhookDelivery", 431, "Webhook payload URL [http://0xa9fea9fe/] "
                "resolves to a blocked IP address", webhookid=hook["id"],
                payloadurl="http://0xa9fea9fe/")
    admin.ok("deleteWebhook", id=hook["id"])
    admin.fails("executeWebhookDelivery", 431, "Invalid webhook specified", webhookid=hook["id"])
    admin.fails("executeWebhookDelivery", 431, "Invalid webhook delivery specified", id=d)
    assert calls == []


def test_execute_test_delivery(admin, state, receiver) -> None:
    hook = admin.ok("createWebhook", name="live", payloadurl=receiver.url,
                    secretkey="webhook")["webhook"]
    before = count(state, WebhookDelivery)
    payload = '{ "CloudStack": "Integration Test" }'
    res = admin.call("executeWebhookDelivery", webhookid=hook["id"], payload=payload)
    assert res.status == 200 and res.envelope == "executewebhookdeliveryresponse"
    d = res.body["webhookdelivery"]
    assert list(d) == [f for f in DELIVERY_FIELDS if f != "eventid"]  # a test has no event
    assert (d["eventtype"], d["webhookid"], d["webhookname"], d["payload"], d["success"]) == (
        "TEST.WEBHOOK", hook["id"], "live", payload, True)
    headers, body = receiver.received[-1]
    assert body == payload.encode() and headers["X-CS-Event"] == "TEST.WEBHOOK"
    assert "X-CS-Signature" in headers
    assert d["response"] == f"Event with ID: {headers['X-CS-Event-ID']} processed"
    assert count(state, WebhookDelivery) == before  # tests are not stored
    # An ad-hoc URL and secret, no webhook: not signed when no secret.
    d = admin.ok("executeWebhookDelivery", payloadurl=receiver.url)["webhookdelivery"]
    assert d["webhookname"] == "Test" and d["payload"] == '{ "CloudStack": "works!" }'
    assert "X-CS-Signature" not in receiver.received[-1][0]


def test_execute_redelivery_persists_a_new_row(admin, state, receiver) -> None:
    hook = admin.ok("createWebhook", name="live", payloadurl=receiver.url)["webhook"]
    old = insert_delivery(state, hook["id"], event_type="VM.START", payload='{"redo":1}')
    d = admin.ok("executeWebhookDelivery", id=old)["webhookdelivery"]
    assert list(d) == DELIVERY_FIELDS
    assert d["id"] != old and (d["eventtype"], d["payload"], d["success"]) == (
        "VM.START", '{"redo":1}', True)
    assert receiver.received[-1][1] == b'{"redo":1}'
    listed = admin.ok("listWebhookDeliveries", webhookid=hook["id"])
    assert [x["id"] for x in listed["webhookdelivery"]] == [d["id"], old]
    assert listed["webhookdelivery"][0]["eventid"] == d["eventid"]


def test_execute_by_owner_and_project_member(admin, app, state, monkeypatch) -> None:
    from tests.factories import create_project

    calls: list[dict] = []
    monkeypatch.setattr(delivery, "execute_now", lambda ctx, **kw: calls.append(kw) or {
        "id": str(uuid.uuid4()), "eventtype": "TEST.WEBHOOK", "success": False})
    alice = create_tenant(app, state, "alice")
    member = create_tenant(app, state, "member")
    _, p_uuid, _ = create_project(state, "prj", 1, alice.account_id, (member.account_id,))
    hook = alice.client.ok("createWebhook", name="p", payloadurl="http://smee.io/p",
                           projectid=p_uuid)["webhook"]
    member.client.ok("executeWebhookDelivery", webhookid=hook["id"], secretkey="override",
                     sslverification=True, payload="x", payloadurl="hooks.example.com/t")
    kw = calls[-1]
    assert kw["webhook"].uuid == hook["id"]
    assert (kw["payload_url"], kw["secret"], kw["ssl_verification"], kw["payload"]) == (
        "http://hooks.example.com/t", "override", True, "x")

"""listEvents, listEventTypes, archiveEvents, deleteEvents, the event bus and the payload."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from csapi import events
from csapi.db import transaction
from csapi.db.models import Account, Event, User, WebhookDispatchEvent
from csapi.events import PublishedEvent, build_payload
from tests.factories import Tenant, create_domain, create_project, create_tenant

EVENT_FIELDS = ["id", "username", "type", "level", "description", "account", "projectid",
                "project", "domainid", "domain", "domainpath", "resourceid", "resourcetype",
                "resourcename", "created", "state", "parentid", "archived"]
T0 = datetime(2024, 6, 10, 10, 0, 0)


def record(app_state: Any, *, account_id: int, user_id: int, event_type: str = "VM.START",
           created: datetime = T0, description: str = "did something", **kw: Any) -> Event:
    with transaction(app_state.sessions) as db:
        return events.record(db, [], event_type=event_type, description=description,
                             user=db.get(User, user_id), account=db.get(Account, account_id),
                             created=created, **kw)


def archived_flags(state: Any) -> dict[str, bool]:
    with transaction(state.sessions) as db:
        return {e.uuid: e.archived for e in db.scalars(select(Event))}


def ids(body: dict) -> list[str]:
    return [e["id"] for e in body.get("event", [])]


@dataclass
class World:
    child: tuple[int, str]
    grand: tuple[int, str]
    other: tuple[int, str]
    dadmin: Tenant
    alice: Tenant
    carol: Tenant
    bob: Tenant
    ev: dict[str, Event]


@pytest.fixture
def world(app: Any, state: Any) -> World:
    child = create_domain(state, "child")
    grand = create_domain(state, "grand", parent_id=child[0])
    other = create_domain(state, "other")
    dadmin = create_tenant(app, state, "dadmin", domain_id=child[0], account_type=2)
    alice = create_tenant(app, state, "alice", domain_id=child[0])
    carol = create_tenant(app, state, "carol", domain_id=grand[0])
    bob = create_tenant(app, state, "bob", domain_id=other[0])
    ev = {}
    for i, t in enumerate((dadmin, alice, carol, bob)):
        ev[t.account_name] = record(state, account_id=t.account_id, user_id=t.user_id,
                                    created=T0 + timedelta(minutes=i),
                                    description=f"{t.account_name} did something")
    ev["admin"] = record(state, account_id=2, user_id=2, created=T0 + timedelta(minutes=9))
    return World(child, grand, other, dadmin, alice, carol, bob, ev)


# --- the event object ---------------------------------------------------------------------

def test_event_object_fields_in_cloudstack_order(admin: Any, state: Any) -> None:
    child_id, child_uuid = create_domain(state, "child")
    admin.ok("updateConfiguration", name="webhook.delivery.tries", value="5",
             domainid=child_uuid)
    body = admin.ok("listEvents")
    assert body["count"] == 1
    ev = body["event"][0]
    with transaction(state.sessions) as db:
        row = db.scalar(select(Event))
        root_uuid = db.get(Account, 2).domain_id and db.scalar(
            select(Event.uuid).where(Event.id == row.id))
    assert root_uuid == ev["id"]
    assert list(ev) == ["id", "username", "type", "level", "description", "account",
                        "domainid", "domain", "domainpath", "resourceid", "resourcetype",
                        "resourcename", "created", "state"]
    assert ev["username"] == "admin" and ev["account"] == "admin"
    assert (ev["type"], ev["level"], ev["state"]) == ("CONFIGURATION.VALUE.EDIT", "INFO",
                                                      "Completed")
    assert (ev["domain"], ev["domainpath"]) == ("ROOT", "ROOT")
    assert (ev["resourceid"], ev["resourcetype"], ev["resourcename"]) == (child_uuid, "Domain",
                                                                          "child")
    assert ev["created"].endswith("+0000")


def test_parentid_is_the_start_events_uuid_and_startid_lists_the_chain(admin: Any,
                                                                       state: Any) -> None:
    start = record(state, account_id=2, user_id=2, state="Scheduled")
    started = record(state, account_id=2, user_id=2, state="Started", start_id=start.id,
                     created=T0 + timedelta(seconds=1))
    done = record(state, account_id=2, user_id=2, state="Completed", start_id=start.id,
                  created=T0 + timedelta(seconds=2))
    record(state, account_id=2, user_id=2, created=T0 + timedelta(seconds=3))
    body = admin.ok("listEvents", startid=start.uuid)
    assert ids(body) == [done.uuid, started.uuid, start.uuid]
    assert [e.get("parentid") for e in body["event"]] == [start.uuid, start.uuid, None]
    assert [e["state"] for e in body["event"]] == ["Completed", "Started", "Scheduled"]


def test_project_events_name_the_project_not_its_account(app: Any, admin: Any,
                                                         state: Any) -> None:
    alice = create_tenant(app, state, "alice")
    _, project_uuid, project_account = create_project(state, "apollo", 1, alice.account_id)
    ev = record(state, account_id=project_account, user_id=alice.user_id)
    assert alice.client.ok("listEvents") == {}  # project events need projectid
    body = alice.client.ok("listEvents", projectid=project_uuid)
    assert ids(body) == [ev.uuid]
    shown = body["event"][0]
    assert (shown["projectid"], shown["project"]) == (project_uuid, "apollo")
    assert "account" not in shown and shown["username"] == "alice"
    body = alice.client.ok("listEvents", projectid=-1)
    assert ids(body) == [ev.uuid]


# --- visibility ---------------------------------------------------------------------------

def test_users_see_only_their_own_events(world: World) -> None:
    assert ids(world.alice.client.ok("listEvents")) == [world.ev["alice"].uuid]
    assert ids(world.alice.client.ok("listEvents", listall=True)) == [world.ev["alice"].uuid]
    world.alice.client.fails("listEvents", 531, "Account alice does not have permission to "
                             f"operate within domain id={world.other[1]}",
                             domainid=world.other[1])
    world.alice.client.fails("listEvents", 531, "Account alice does not have permission to "
                             "operate with resource account dadmin", account="dadmin",
                             domainid=world.alice.domain_uuid)


def test_domain_admins_see_their_subtree(world: World) -> None:
    client = world.dadmin.client
    assert ids(client.ok("listEvents")) == [world.ev["dadmin"].uuid]
    assert ids(client.ok("listEvents", listall=True)) == [
        world.ev["carol"].uuid, world.ev["alice"].uuid, world.ev["dadmin"].uuid]
    assert ids(client.ok("listEvents", domainid=world.grand[1])) == [world.ev["carol"].uuid]
    assert ids(client.ok("listEvents", domainid=world.child[1])) == [
        world.ev["alice"].uuid, world.ev["dadmin"].uuid]
    assert ids(client.ok("listEvents", domainid=world.child[1], isrecursive=True)) == [
        world.ev["carol"].uuid, world.ev["alice"].uuid, world.ev["dadmin"].uuid]
    assert ids(client.ok("listEvents", account="alice", domainid=world.child[1])) == [
        world.ev["alice"].uuid]
    client.fails("listEvents", 531, "Account dadmin does not have permission to operate "
                 f"within domain id={world.other[1]}", domainid=world.other[1])


def test_root_admin_sees_everything_with_listall(admin: Any, world: World) -> None:
    assert ids(admin.ok("listEvents")) == [world.ev["admin"].uuid]
    body = admin.ok("listEvents", listall=True)
    assert ids(body) == [world.ev[n].uuid for n in ("admin", "bob", "carol", "alice",
                                                    "dadmin")]
    assert body["count"] == 5


def test_hidden_events_are_shown_to_root_admins_only(admin: Any, app: Any, state: Any) -> None:
    alice = create_tenant(app, state, "alice")
    shown = record(state, account_id=alice.account_id, user_id=alice.user_id)
    hidden = record(state, account_id=alice.account_id, user_id=alice.user_id, display=False)
    assert ids(alice.client.ok("listEvents")) == [shown.uuid]
    assert set(ids(admin.ok("listEvents", listall=True))) == {shown.uuid, hidden.uuid}


# --- filters ------------------------------------------------------------------------------

def test_newest_first_then_by_id(admin: Any, state: Any) -> None:
    same_a = record(state, account_id=2, user_id=2, created=T0)
    same_b = record(state, account_id=2, user_id=2, created=T0)
    later = record(state, account_id=2, user_id=2, created=T0 + timedelta(hours=1))
    earlier = record(state, account_id=2, user_id=2, created=T0 - timedelta(hours=1))
    assert ids(admin.ok("listEvents")) == [later.uuid, same_b.uuid, same_a.uuid, earlier.uuid]
    body = admin.ok("listEvents", page=2, pagesize=3)
    assert body["count"] == 4 and ids(body) == [earlier.uuid]


def test_type_level_keyword_and_id_filters(admin: Any, state: Any) -> None:
    start = record(state, account_id=2, user_id=2, event_type="VM.START",
                   description="started vm-1")
    stop = record(state, account_id=2, user_id=2, event_type="VM.STOP", level="ERROR",
                  description="Error while stopping 50%_done", created=T0 + timedelta(1))
    assert ids(admin.ok("listEvents", type="VM.STOP")) == [stop.uuid]
    assert ids(admin.ok("listEvents", level="ERROR")) == [stop.uuid]
    assert ids(admin.ok("listEvents", keyword="vm-1")) == [start.uuid]
    assert ids(admin.ok("listEvents", keyword="START")) == [start.uuid]  # matches the type
    assert ids(admin.ok("listEvents", keyword="50%_")) == [stop.uuid]  # no LIKE wildcards
    assert ids(admin.ok("listEvents", keyword="0%")) == [stop.uuid]
    assert ids(admin.ok("listEvents", id=start.uuid)) == [start.uuid]
    assert admin.ok("listEvents", type="VM.CREATE") == {}


def test_date_filters_accept_both_formats(admin: Any, state: Any) -> None:
    day1 = record(state, account_id=2, user_id=2, created=datetime(2024, 6, 1, 23, 30, 0))
    day2 = record(state, account_id=2, user_id=2, created=datetime(2024, 6, 2, 8, 0, 0))
    day3 = record(state, account_id=2, user_id=2, created=datetime(2024, 6, 3, 0, 0, 0))
    # A date-only enddate takes in the whole day.
    assert ids(admin.ok("listEvents", startdate="2024-06-02", enddate="2024-06-02")) == [
        day2.uuid]
    assert ids(admin.ok("listEvents", enddate="2024-06-01")) == [day1.uuid]
    assert ids(admin.ok("listEvents", startdate="2024-06-01 23:30:00",
                        enddate="2024-06-02 08:00:00")) == [day2.uuid, day1.uuid]
    assert ids(admin.ok("listEvents", startdate="2024-06-02 08:00:01")) == [day3.uuid]
    admin.fails("listEvents", 431, "Unable to parse date 02/06/2024 for command listevents, "
                "please pass dates in the format mentioned in the api documentation",
                startdate="02/06/2024")


def test_resource_filters(admin: Any, app: Any, state: Any) -> None:
    alice = create_tenant(app, state, "alice")
    on_user = record(state, account_id=2, user_id=2, event_type="USER.UPDATE",
                     resource_type="User", resource_id=alice.user_id,
                     resource_uuid=alice.user_uuid)
    record(state, account_id=2, user_id=2)
    body = admin.ok("listEvents", resourcetype="User", resourceid=alice.user_uuid)
    assert ids(body) == [on_user.uuid]
    assert (body["event"][0]["resourceid"], body["event"][0]["resourcename"]) == (
        alice.user_uuid, "alice")
    assert ids(admin.ok("listEvents", resourcetype="User")) == [on_user.uuid]
    for params, text in (
        ({"resourcetype": "user"}, "Invalid resourcetype"),
        ({"resourceid": alice.user_uuid}, "resourceid parameter must be used with "
                                          "resourcetype parameter"),
        ({"resourcetype": "User", "resourceid": "not-a-uuid"}, "Invalid resourceid"),
        ({"resourcetype": "Domain", "resourceid": alice.user_uuid}, "Invalid resourceid"),
    ):
        assert admin.fails("listEvents", 431, text, **params).body["cserrorcode"] == 4350


def test_pending_events_by_entrytime_and_duration(admin: Any, state: Any) -> None:
    now = datetime.utcnow().replace(microsecond=0)
    pending = record(state, account_id=2, user_id=2, state="Started",
                     created=now - timedelta(seconds=100))
    finished = record(state, account_id=2, user_id=2, state="Started",
                      created=now - timedelta(seconds=100))
    record(state, account_id=2, user_id=2, state="Completed", start_id=finished.id,
           created=now - timedelta(seconds=90))
    record(state, account_id=2, user_id=2, state="Started",
           created=now - timedelta(seconds=1000))  # older than entrytime
    assert ids(admin.ok("listEvents", entrytime=300, duration=50)) == [pending.uuid]
    admin.fails("listEvents", 431, "Entry time must be greater than duration", entrytime=50,
                duration=50)


# --- archive and delete -------------------------------------------------------------------

def test_archived_events_leave_the_default_listing(admin: Any, state: Any) -> None:
    keep = record(state, account_id=2, user_id=2, event_type="VM.START")
    old = record(state, account_id=2, user_id=2, event_type="VM.STOP")
    assert admin.ok("archiveEvents", ids=old.uuid) == {"success": True}
    assert ids(admin.ok("listEvents")) == [keep.uuid]
    body = admin.ok("listEvents", archived=True)
    assert ids(body) == [old.uuid] and body["event"][0]["archived"] is True
    assert ids(admin.ok("listEvents", id=old.uuid)) == [old.uuid]  # by id, archived or not
    # Archived events are not archived or deleted again.
    admin.fails("archiveEvents", 530, "Unable to archive Events, one or more parameters has "
                "invalid values", ids=old.uuid)


@pytest.mark.parametrize("command, verb", [("archiveEvents", "archive"),
                                           ("deleteEvents", "delete")])
def test_archive_and_delete_errors_change_nothing(admin: Any, state: Any, command: str,
                                                  verb: str) -> None:
    ev = record(state, account_id=2, user_id=2)
    before = archived_flags(state)
    res = admin.fails(command, 431, "either ids, type or enddate must be specified")
    assert res.body["cserrorcode"] == 4350
    admin.fails(command, 431, "either ids, type or enddate must be specified",
                startdate="2024-01-01")
    admin.fails(command, 431, "enddate must be specified with startdate parameter",
                startdate="2024-01-01", type="VM.START")
    admin.fails(command, 431, "Please provide a valid start date and end date",
                startdate="2024-02-01", enddate="2024-01-01")
    res = admin.fails(command, 530, f"Unable to {verb} Events, one or more parameters has "
                      "invalid values", ids=ev.uuid, type="VM.STOP")
    assert res.body["cserrorcode"] == 9999
    admin.fails(command, 431, f"Unable to execute API command {command.lower()} due to invalid "
                "value. Invalid parameter ids value=a3f1c1de-0000-4000-8000-000000000000 due "
                "to incorrect long value format, or entity does not exist or due to incorrect "
                "parameter annotation for the field in api cmd class.",
                ids="a3f1c1de-0000-4000-8000-000000000000")
    assert archived_flags(state) == before


def test_users_archive_and_delete_only_their_own(world: World, state: Any) -> None:
    client = world.alice.client
    before = archived_flags(state)
    client.fails("deleteEvents", 530, "Unable to delete Events, one or more parameters has "
                 "invalid values", ids=f"{world.ev['alice'].uuid},{world.ev['bob'].uuid}")
    assert archived_flags(state) == before
    # By type: only the caller's own events are touched.
    assert client.ok("archiveEvents", type="VM.START") == {"success": True}
    after = archived_flags(state)
    assert [u for u, a in after.items() if a] == [world.ev["alice"].uuid]
    client.ok("deleteEvents", enddate="2030-01-01", type="VM.START")
    remaining = archived_flags(state)
    assert world.ev["alice"].uuid in remaining  # archived events are not deleted again
    client.ok("deleteEvents", enddate="2030-01-01")
    assert set(archived_flags(state)) == set(remaining)


def test_domain_admins_delete_in_their_subtree(admin: Any, world: World, state: Any) -> None:
    client = world.dadmin.client
    client.fails("deleteEvents", 530, "Unable to delete Events, one or more parameters has "
                 "invalid values", ids=world.ev["bob"].uuid)
    assert client.ok("deleteEvents", type="VM.START") == {"success": True}
    left = set(archived_flags(state))
    assert left == {world.ev["bob"].uuid, world.ev["admin"].uuid}
    admin.ok("deleteEvents", ids=world.ev["bob"].uuid)
    assert set(archived_flags(state)) == {world.ev["admin"].uuid}


def test_delete_by_date_range(admin: Any, state: Any) -> None:
    old = record(state, account_id=2, user_id=2, created=datetime(2024, 1, 1, 12, 0, 0))
    new = record(state, account_id=2, user_id=2, created=datetime(2024, 3, 1, 12, 0, 0))
    admin.ok("deleteEvents", startdate="2023-12-31", enddate="2024-01-01")
    assert set(archived_flags(state)) == {new.uuid}
    assert old.uuid not in archived_flags(state)


def test_deleted_events_take_their_queued_webhook_work_along(admin: Any, state: Any) -> None:
    ev = record(state, account_id=2, user_id=2)
    with transaction(state.sessions) as db:
        assert db.scalar(select(func.count()).select_from(WebhookDispatchEvent)) == 1
    admin.ok("deleteEvents", ids=ev.uuid)
    with transaction(state.sessions) as db:
        assert db.scalar(select(func.count()).select_from(WebhookDispatchEvent)) == 0
        assert db.scalar(select(func.count()).select_from(Event)) == 0


# --- event types --------------------------------------------------------------------------

def test_list_event_types(admin: Any, app: Any, state: Any) -> None:
    alice = create_tenant(app, state, "alice")
    body = alice.client.ok("listEventTypes")
    names = [t["name"] for t in body["eventtype"]]
    assert body["count"] == len(names) == len(set(names))
    for expected in ("VM.CREATE", "VM.RECOVER", "ACCOUNT.CREATE", "USER.LOGIN", "USER.LOGOUT",
                     "USER.LOCK", "REGISTER.USER.KEY", "DELETE.USER.KEY",
                     "API.KEY.ACCESS.UPDATE", "REGISTER.SSH.KEYPAIR", "DOMAIN.MOVE",
                     "PROJECT.CREATE", "PROJECT.INVITATION.REMOVE", "CONFIGURATION.VALUE.EDIT",
                     "ROLE.IMPORT", "ROLE.PERMISSION.DELETE", "ZONE.EDIT", "NETWORK.RESTART",
                     "VOLUME.RESIZE", "SNAPSHOT.CREATE", "TEMPLATE.CREATE", "ISO.ATTACH",
                     "SG.CREATE", "LB.CREATE", "VPC.CREATE", "CREATE_TAGS", "DELETE_TAGS",
                     "WEBHOOK.CREATE", "WEBHOOK.UPDATE", "WEBHOOK.DELETE"):
        assert expected in names, expected
    assert names[0] == "VM.CREATE"
    from csapi.api.registry import REGISTRY
    declared = {c.event.type for c in REGISTRY.values() if c.event is not None}
    assert declared <= set(names)


# --- the event bus ------------------------------------------------------------------------

@pytest.fixture
def published(state: Any) -> Any:
    """Events the bus carries, each with whether its row was committed when it arrived."""
    seen: list[tuple[PublishedEvent, bool]] = []

    def on_event(event: PublishedEvent) -> None:
        with transaction(state.sessions) as db:  # a separate connection
            committed = db.scalar(select(Event.id).where(Event.uuid == event.event_uuid))
        seen.append((event, committed is not None))

    state.bus.subscribe(on_event)
    yield seen
    state.bus.unsubscribe(on_event)


def test_events_are_published_after_commit(admin: Any, state: Any, published: list) -> None:
    admin.ok("updateConfiguration", name="webhook.delivery.tries", value="4")
    assert len(published) == 1
    event, committed = published[0]
    assert committed
    assert (event.event_type, event.state, event.category) == ("CONFIGURATION.VALUE.EDIT",
                                                               "Completed", "ActionEvent")
    with transaction(state.sessions) as db:
        row = db.scalar(select(Event))
        admin_uuid = db.get(Account, 2).uuid
    assert (event.event_id, event.event_uuid, event.account_uuid) == (row.id, row.uuid,
                                                                      admin_uuid)


def test_a_failed_command_publishes_and_records_nothing(admin: Any, state: Any,
                                                        published: list) -> None:
    admin.fails("updateConfiguration", 431, "Please enter either 'true' or 'false'.",
                name="webhook.delivery.allow.http", value="maybe")
    assert published == []
    with transaction(state.sessions) as db:
        assert db.scalar(select(func.count()).select_from(Event)) == 0


def test_login_and_logout_record_events(app: Any, state: Any, published: list) -> None:
    child_id, _ = create_domain(state, "child")
    alice = create_tenant(app, state, "alice", domain_id=child_id)
    http = app.test_client()
    resp = http.post("/client/api", data={"command": "login", "username": "alice",
                                          "password": "password", "domain": "/child",
                                          "response": "json"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    key = resp.get_json()["loginresponse"]["sessionkey"]
    resp = http.get(f"/client/api?command=logout&response=json&sessionkey={key}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert [(e.event_type, ok) for e, ok in published] == [("USER.LOGIN", True),
                                                           ("USER.LOGOUT", True)]
    body = alice.client.ok("listEvents")
    assert [(e["type"], e["description"]) for e in body["event"]] == [
        ("USER.LOGOUT", "user has logged out"),
        ("USER.LOGIN", "user has logged in from IP Address 127.0.0.1")]
    assert {(e["resourcetype"], e["resourceid"]) for e in body["event"]} == {
        ("User", alice.user_uuid)}
    # A failed login records nothing.
    resp = http.post("/client/api", data={"command": "login", "username": "alice",
                                          "password": "wrong", "domain": "/child",
                                          "response": "json"})
    assert resp.status_code == 531
    assert len(published) == 2


# --- the payload, byte for byte -----------------------------------------------------------

def test_payload_matches_the_specs_example_byte_for_byte() -> None:
    vm = "5a4f7b0e-0c57-4b0e-9d51-6a3c2f0f7c11"
    payload = build_payload(
        created=datetime(2024, 6, 10, 10, 40, 12), event_type="VM.START", state="Completed",
        description=f"Successfully completed starting Vm. Vm Id: {vm}",
        user_uuid="f3d1c8a2-7c4e-11ef-9a8b-0242ac120002",
        account_uuid="f3d1a6b4-7c4e-11ef-9a8b-0242ac120002", project_uuid=None,
        entity="VirtualMachine", entity_uuid=vm, context_entities={"VirtualMachine": vm})
    expected = (
        '{"eventDateTime":"2024-06-10 10:40:12 +0000",'
        f'"entityuuid":"{vm}",'
        f'"description":"Successfully completed starting Vm. Vm Id: {vm}",'
        '"event":"VM.START","user":"f3d1c8a2-7c4e-11ef-9a8b-0242ac120002",'
        '"account":"f3d1a6b4-7c4e-11ef-9a8b-0242ac120002","entity":"VirtualMachine",'
        f'"status":"Completed","VirtualMachine":"{vm}"}}')
    assert payload == expected
    body = payload.encode("utf-8")
    assert len(body) == 410
    signature = base64.b64encode(hmac.new(b"webhook", body, hashlib.sha256).digest()).decode()
    assert signature == "GY96rtMUmJ4e6NDPADH98kkhNOIWjiQ0j1Y5fY2VNFQ="


def test_payload_escapes_as_gson_does() -> None:
    payload = build_payload(
        created=datetime(2025, 1, 2, 3, 4, 5), event_type="WEBHOOK.CREATE", state="Created",
        description="<a href='x'>&=</a> \"q\" \\ \t\n\x01\x7f é \u2028\u2029 😀",
        user_uuid="U", account_uuid="A", project_uuid="P", entity="Webhook", entity_uuid="W",
        context_entities={"Webhook": "W"})
    expected = (
        '{"eventDateTime":"2025-01-02 03:04:05 +0000","entityuuid":"W","project":"P",'
        '"description":"\\u003ca href\\u003d\\u0027x\\u0027\\u003e\\u0026\\u003d\\u003c/a'
        '\\u003e \\"q\\" \\\\ \\t\\n\\u0001\x7f é \\u2028\\u2029 😀",'
        '"event":"WEBHOOK.CREATE","user":"U","account":"A","entity":"Webhook",'
        '"status":"Created","Webhook":"W"}')
    assert payload == expected


def test_payload_omits_missing_values() -> None:
    payload = build_payload(
        created=datetime(2025, 1, 2, 3, 4, 5), event_type="USER.LOGOUT", state="Completed",
        description="user has logged out", user_uuid="U", account_uuid="A",
        project_uuid=None, entity=None, entity_uuid=None)
    assert payload == ('{"eventDateTime":"2025-01-02 03:04:05 +0000","description":"user has '
                       'logged out","event":"USER.LOGOUT","user":"U","account":"A",'
                       '"status":"Completed"}')

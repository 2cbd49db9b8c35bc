"""The permission matrix: six callers x every webhook command x six webhooks of different
owners. A caller reads, changes, deletes or replays exactly what it may operate, and a refused
call changes nothing.

    ROOT
    |-- parent      padmin (domain admin)
    |   `-- child   user, other, member; project "prj" (admin: user, member: member)
    `-- sibling     sadmin (domain admin)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from csapi.db import transaction
from csapi.db.models import Webhook, WebhookDelivery, WebhookFilter
from csapi.webhooks import delivery
from tests.client import ApiClient
from tests.factories import create_domain, create_project, create_tenant
from tests.webhook_fixtures import count, dns, insert_delivery, snapshot  # noqa: F401

pytestmark = pytest.mark.usefixtures("dns")

OWNERS = ("root", "padmin", "sadmin", "user", "other", "project")
# Who may operate whose webhooks: the whole truth table of the matrix.
OPERABLE: dict[str, set[str]] = {
    "root": set(OWNERS),
    "padmin": {"padmin", "user", "other", "project"},  # its subtree, never the root admin
    "sadmin": {"sadmin"},
    "user": {"user", "project"},  # its own and its project's
    "other": {"other"},
    "member": {"project"},
}
CALLERS = tuple(OPERABLE)


@dataclass
class World:
    state: Any
    clients: dict[str, ApiClient]
    # owner -> ids of its webhook, delivery and filter, and how to name it as an owner
    hooks: dict[str, str] = field(default_factory=dict)
    deliveries: dict[str, str] = field(default_factory=dict)
    filters: dict[str, str] = field(default_factory=dict)
    owner_params: dict[str, dict[str, str]] = field(default_factory=dict)
    project_uuid: str = ""
    executed: list[dict[str, Any]] = field(default_factory=list)

    def foreign(self, caller: str) -> set[str]:
        """Every UUID the caller must never see."""
        hidden = set(OWNERS) - OPERABLE[caller]
        return ({self.hooks[o] for o in hidden} | {self.deliveries[o] for o in hidden}
                | {self.filters[o] for o in hidden})


@pytest.fixture
def world(admin, app, state, monkeypatch) -> World:
    p_id, p_uuid = create_domain(state, "parent")
    c_id, c_uuid = create_domain(state, "child", p_id)
    s_id, s_uuid = create_domain(state, "sibling")
    tenants = {
        "padmin": create_tenant(app, state, "padmin", p_id, account_type=2),
        "sadmin": create_tenant(app, state, "sadmin", s_id, account_type=2),
        "user": create_tenant(app, state, "user", c_id),
        "other": create_tenant(app, state, "other", c_id),
        "member": create_tenant(app, state, "member", c_id),
    }
    _, p_uuid_prj, _ = create_project(state, "prj", c_id, tenants["user"].account_id,
                                      (tenants["member"].account_id,))
    w = World(state, {"root": admin, **{k: t.client for k, t in tenants.items()}})
    w.project_uuid = p_uuid_prj
    with transaction(state.sessions) as db:
        from csapi.db.models import Domain

        root_uuid = db.get(Domain, 1).uuid
    w.owner_params = {
        "root": {"account": "admin", "domainid": root_uuid},
        "padmin": {"account": "padmin", "domainid": p_uuid},
        "sadmin": {"account": "sadmin", "domainid": s_uuid},
        "user": {"account": "user", "domainid": c_uuid},
        "other": {"account": "other", "domainid": c_uuid},
        "project": {"projectid": p_uuid_prj},
    }
    creators = {"root": "root", "padmin": "padmin", "sadmin": "sadmin", "user": "user",
                "other": "other", "project": "member"}
    for owner, creator in creators.items():
        extra = {"projectid": p_uuid_prj} if owner == "project" else {}
        hook = w.clients[creator].ok("createWebhook", name=f"hook-{owner}",
                                     payloadurl=f"http://smee.io/{owner}",
                                     secretkey=f"secret-{owner}", **extra)["webhook"]
        w.hooks[owner] = hook["id"]
        w.deliveries[owner] = insert_delivery(state, hook["id"], payload=f"payload-{owner}")
        w.filters[owner] = admin.ok("addWebhookFilter", webhookid=hook["id"],
                                    value=f"{owner.upper()}.EVENT")["webhookfilter"]["id"]

    def fake_execute(ctx, **kw) -> dict[str, Any]:
        w.executed.append(kw)
        return {"id": str(uuid.uuid4()), "eventtype": "TEST.WEBHOOK", "success": True}

    monkeypatch.setattr(delivery, "execute_now", fake_execute)
    return w


def denied_or_ok(res, allowed: bool) -> None:
    if allowed:
        assert res.status == 200, res.body
    else:
        assert res.status == 531 and res.body["errorcode"] == 531, res.body
        assert res.body["cserrorcode"] == 4365, res.body


# --- one checker per command: performs the call on `target`, asserts the outcome ----------------

def check_create(w: World, caller: str, target: str) -> None:
    before = count(w.state, Webhook)
    res = w.clients[caller].call("createWebhook", name="new", payloadurl="http://smee.io/new",
                                 **w.owner_params[target])
    allowed = target in OPERABLE[caller]
    denied_or_ok(res, allowed)
    assert count(w.state, Webhook) == before + int(allowed)
    if allowed:
        w.clients["root"].ok("deleteWebhook", id=res.body["webhook"]["id"])


def check_list_webhooks(w: World, caller: str, target: str) -> None:
    client = w.clients[caller]
    got = client.ok("listWebhooks", id=w.hooks[target], listall=True)
    if target == "project":
        res = client.call("listWebhooks", projectid=w.project_uuid)
        denied_or_ok(res, target in OPERABLE[caller])
        got = res.body if res.status == 200 else {}
    ids = [h["id"] for h in got.get("webhook", [])]
    assert ids == ([w.hooks[target]] if target in OPERABLE[caller] else [])
    if ids:
        assert got["webhook"][0]["secretkey"] == f"secret-{target}"


def check_update(w: World, caller: str, target: str) -> None:
    before = snapshot(w.state)
    res = w.clients[caller].call("updateWebhook", id=w.hooks[target], description="changed",
                                 payloadurl="http://smee.io/changed", secretkey="stolen")
    denied_or_ok(res, target in OPERABLE[caller])
    if res.status != 200:
        assert snapshot(w.state) == before
    else:
        assert res.body["webhook"]["description"] == "changed"


def check_delete(w: World, caller: str, target: str) -> None:
    before = snapshot(w.state)
    res = w.clients[caller].call("deleteWebhook", id=w.hooks[target])
    denied_or_ok(res, target in OPERABLE[caller])
    if res.status != 200:
        assert snapshot(w.state) == before
    else:
        with transaction(w.state.sessions) as db:
            assert db.scalar(select(Webhook.removed).where(
                Webhook.uuid == w.hooks[target])) is not None


def check_list_deliveries(w: World, caller: str, target: str) -> None:
    res = w.clients[caller].call("listWebhookDeliveries", webhookid=w.hooks[target])
    denied_or_ok(res, target in OPERABLE[caller])
    if res.status == 200:
        assert [d["id"] for d in res.body["webhookdelivery"]] == [w.deliveries[target]]
    res = w.clients[caller].call("listWebhookDeliveries", id=w.deliveries[target])
    denied_or_ok(res, target in OPERABLE[caller])


def check_delete_delivery(w: World, caller: str, target: str) -> None:
    before = snapshot(w.state)
    res = w.clients[caller].call("deleteWebhookDelivery", id=w.deliveries[target])
    denied_or_ok(res, target in OPERABLE[caller])
    gone = count(w.state, WebhookDelivery, WebhookDelivery.uuid == w.deliveries[target]) == 0
    assert gone is (res.status == 200)
    if res.status != 200:
        assert snapshot(w.state) == before


def check_execute(w: World, caller: str, target: str) -> None:
    before = snapshot(w.state)
    for params in ({"id": w.deliveries[target]}, {"webhookid": w.hooks[target]}):
        calls = len(w.executed)
        res = w.clients[caller].call("executeWebhookDelivery", **params)
        denied_or_ok(res, target in OPERABLE[caller])
        assert len(w.executed) == calls + int(res.status == 200)  # nothing replayed if denied
    assert snapshot(w.state) == before  # the stand-in writes nothing either way


def check_add_filter(w: World, caller: str, target: str) -> None:
    before = count(w.state, WebhookFilter)
    res = w.clients[caller].call("addWebhookFilter", webhookid=w.hooks[target], value="NEW")
    denied_or_ok(res, target in OPERABLE[caller])
    assert count(w.state, WebhookFilter) == before + int(res.status == 200)


def check_list_filters(w: World, caller: str, target: str) -> None:
    for params in ({"webhookid": w.hooks[target]}, {"id": w.filters[target]}):
        res = w.clients[caller].call("listWebhookFilters", **params)
        denied_or_ok(res, target in OPERABLE[caller])
        if res.status == 200:
            assert [f["id"] for f in res.body["webhookfilter"]] == [w.filters[target]]


def check_delete_filter(w: World, caller: str, target: str) -> None:
    before = snapshot(w.state)
    res = w.clients[caller].call("deleteWebhookFilter", id=w.filters[target])
    denied_or_ok(res, target in OPERABLE[caller])
    gone = count(w.state, WebhookFilter, WebhookFilter.uuid == w.filters[target]) == 0
    assert gone is (res.status == 200)
    if res.status != 200:
        assert snapshot(w.state) == before


# In an order where no check disturbs a later one: reads first, the webhook's deletion last.
CHECKS: dict[str, Callable[[World, str, str], None]] = {
    "createWebhook": check_create,
    "listWebhooks": check_list_webhooks,
    "listWebhookDeliveries": check_list_deliveries,
    "listWebhookFilters": check_list_filters,
    "executeWebhookDelivery": check_execute,
    "addWebhookFilter": check_add_filter,
    "updateWebhook": check_update,
    "deleteWebhookDelivery": check_delete_delivery,
    "deleteWebhookFilter": check_delete_filter,
    "deleteWebhook": check_delete,
}


def test_the_matrix_covers_every_webhook_command() -> None:
    from csapi.api.registry import load_commands

    webhook_commands = {n for n in load_commands() if "Webhook" in n}
    assert webhook_commands == set(CHECKS)


@pytest.mark.parametrize("caller", CALLERS)
def test_matrix(world: World, caller: str) -> None:
    """Every command against every owner's webhook (one world per caller: setting it up is
    the slow part)."""
    for command, check in CHECKS.items():
        for target in OWNERS:
            try:
                check(world, caller, target)
            except AssertionError as exc:
                raise AssertionError(f"{caller} -> {command} on {target}'s webhook: {exc}"
                                     ) from exc


@pytest.mark.parametrize("caller", CALLERS)
def test_unfiltered_lists_show_exactly_what_the_caller_may_operate(world: World,
                                                                  caller: str) -> None:
    client = world.clients[caller]
    foreign = world.foreign(caller)
    bodies = [client.call("listWebhooks", listall=True), client.call("listWebhookDeliveries"),
              client.call("listWebhookFilters"), client.call("listWebhooks", projectid=-1)]
    for res in bodies:
        assert res.status == 200, res.body
        assert not any(uid in res.text for uid in foreign), (caller, res.text)
        for owner in set(OWNERS) - OPERABLE[caller]:
            assert f"secret-{owner}" not in res.text and f"payload-{owner}" not in res.text
    delivered = {d["id"] for d in bodies[1].body.get("webhookdelivery", [])}
    filtered = {f["id"] for f in bodies[2].body.get("webhookfilter", [])}
    assert delivered == {world.deliveries[o] for o in OPERABLE[caller]}
    assert filtered == {world.filters[o] for o in OPERABLE[caller]}
    listed = {h["id"] for res in (bodies[0], bodies[3]) for h in res.body.get("webhook", [])}
    assert listed == {world.hooks[o] for o in OPERABLE[caller]}

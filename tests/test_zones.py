"""listZones over the simulated zone."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from csapi.db import transaction
from csapi.db.models import DataCenter
from csapi.seed import now
from tests.factories import Tenant, create_domain, create_tenant

ADMIN_KEYS = [
    "id", "name", "description", "dns1", "internaldns1", "guestcidraddress", "networktype",
    "securitygroupsenabled", "allocationstate", "zonetoken", "dhcpprovider",
    "localstorageenabled", "tags", "allowuserspecifyvrmtu", "routerprivateinterfacemaxmtu",
    "routerpublicinterfacemaxmtu", "type", "nsxenabled", "ismultiarch", "routedmodeenabled",
    "hasannotations",
]
FULL_ONLY = {"dns1", "internaldns1", "guestcidraddress"}


def add_zone(state: Any, name: str, **values: Any) -> str:
    with transaction(state.sessions) as db:
        fields = {"allocation_state": "Enabled", **values}
        zone = DataCenter(uuid=str(uuid.uuid4()), name=name, description=f"{name} zone",
                          dns1="1.1.1.1", internal_dns1="10.0.0.1", networktype="Advanced",
                          zone_token=str(uuid.uuid4()), type="Core", created=now(), **fields)
        db.add(zone)
        db.flush()
        return zone.uuid


@pytest.fixture
def user(app, state) -> Tenant:  # type: ignore[no-untyped-def]
    return create_tenant(app, state, "alice")


def test_root_admin_sees_the_full_zone(admin, state) -> None:
    body = admin.ok("listZones")
    assert body["count"] == 1
    zone = body["zone"][0]
    assert list(zone) == ADMIN_KEYS
    with transaction(state.sessions) as db:
        seeded = db.scalar(select(DataCenter))
        assert zone["id"] == seeded.uuid and zone["zonetoken"] == seeded.zone_token
    assert zone["name"] == "Sandbox-simulator" and zone["description"] == "Simulated zone"
    assert (zone["dns1"], zone["internaldns1"]) == ("8.8.8.8", "10.147.28.6")
    assert zone["guestcidraddress"] == "10.1.1.0/24"
    assert zone["networktype"] == "Advanced" and zone["allocationstate"] == "Enabled"
    assert zone["securitygroupsenabled"] is False and zone["localstorageenabled"] is False
    assert zone["dhcpprovider"] == "VirtualRouter" and zone["tags"] == []
    assert zone["routerprivateinterfacemaxmtu"] == 1500 and zone["type"] == "Core"
    for flag in ("allowuserspecifyvrmtu", "nsxenabled", "ismultiarch", "routedmodeenabled",
                 "hasannotations"):
        assert zone[flag] is False


def test_users_get_the_restricted_view(admin, user) -> None:
    full = admin.ok("listZones")["zone"][0]
    zone = user.client.ok("listZones")["zone"][0]
    assert list(zone) == [k for k in ADMIN_KEYS if k not in FULL_ONLY]
    assert {k: v for k, v in full.items() if k not in FULL_ONLY} == zone


def test_domain_admins_get_the_restricted_view(app, state) -> None:
    dept_id, _ = create_domain(state, "dept")
    dadmin = create_tenant(app, state, "dadmin", domain_id=dept_id, account_type=2)
    zone = dadmin.client.ok("listZones")["zone"][0]
    assert FULL_ONLY.isdisjoint(zone)


def test_filters(admin, state) -> None:
    second = add_zone(state, "Zone-Two")
    assert admin.ok("listZones")["count"] == 2
    assert [z["name"] for z in admin.ok("listZones")["zone"]] == ["Sandbox-simulator",
                                                                  "Zone-Two"]
    assert admin.ok("listZones", id=second)["zone"][0]["name"] == "Zone-Two"
    first = admin.ok("listZones", name="Sandbox-simulator")["zone"][0]["id"]
    assert admin.ok("listZones", ids=f"{first},{second}")["count"] == 2
    assert admin.ok("listZones", name="Zone") == {}
    assert admin.ok("listZones", keyword="Two")["zone"][0]["id"] == second
    assert admin.ok("listZones", networktype="Advanced")["count"] == 2
    assert admin.ok("listZones", networktype="Basic") == {}
    assert admin.ok("listZones", available=True)["count"] == 2
    page = admin.ok("listZones", page=2, pagesize=1)
    assert page["count"] == 2 and [z["id"] for z in page["zone"]] == [second]
    admin.fails("listZones", 431, "Unable to execute API command listzones due to invalid "
                "value. Invalid parameter id value=00000000-0000-0000-0000-000000000000 due to "
                "incorrect long value format, or entity does not exist or due to incorrect "
                "parameter annotation for the field in api cmd class.",
                id="00000000-0000-0000-0000-000000000000")


def test_disabled_and_removed_zones(admin, user, state) -> None:
    add_zone(state, "Closed", allocation_state="Disabled")
    add_zone(state, "Gone", removed=now())
    assert [z["name"] for z in admin.ok("listZones")["zone"]] == ["Sandbox-simulator",
                                                                  "Closed"]
    assert [z["name"] for z in user.client.ok("listZones")["zone"]] == ["Sandbox-simulator"]


def test_dedicated_zones(admin, app, state, user) -> None:
    dept_id, dept_uuid = create_domain(state, "dept")
    dedicated = add_zone(state, "Private", domain_id=dept_id)
    member = create_tenant(app, state, "carol", domain_id=dept_id)
    zone = admin.ok("listZones", id=dedicated)["zone"][0]
    assert (zone["domainid"], zone["domainname"]) == (dept_uuid, "dept")
    assert [z["id"] for z in admin.ok("listZones", domainid=dept_uuid)["zone"]] == [dedicated]
    assert [z["name"] for z in member.client.ok("listZones")["zone"]] == [
        "Sandbox-simulator", "Private"]
    assert [z["name"] for z in user.client.ok("listZones")["zone"]] == ["Sandbox-simulator"]
    user.client.fails("listZones", 531, "Account alice does not have permission to operate "
                      f"within domain id={dept_uuid}", domainid=dept_uuid)


def test_tag_filter_matches_nothing(admin) -> None:
    assert admin.ok("listZones", **{"tags[0].key": "a", "tags[0].value": "b"}) == {}

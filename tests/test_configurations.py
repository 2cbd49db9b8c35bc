"""listConfigurations / updateConfiguration / resetConfiguration over the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from csapi import settings
from csapi.db import transaction
from csapi.db.models import AccountDetail, Configuration, DomainDetail, Event
from csapi.settings import Setting
from tests.factories import create_domain, create_tenant

FIELDS = ["category", "group", "subgroup", "name", "value", "defaultvalue", "scope",
          "description", "isdynamic", "component", "displaytext", "type", "options"]


def listed() -> list[str]:
    """Every declared setting listConfigurations shows (Hidden ones never are), by name."""
    return sorted(n for n, s in settings.SETTINGS.items() if s.category != "Hidden")


def snapshot(state: Any) -> tuple[list, list, list, int]:
    """Everything a settings command may write, to prove rejected calls changed nothing."""
    with transaction(state.sessions) as db:
        return (
            sorted((c.name, c.value) for c in db.scalars(select(Configuration))),
            sorted((d.domain_id, d.name, d.value) for d in db.scalars(select(DomainDetail))),
            sorted((a.account_id, a.name, a.value) for a in db.scalars(select(AccountDetail))),
            db.scalar(select(func.count()).select_from(Event)),
        )


def value_of(state: Any, name: str, **scope: int) -> Any:
    with transaction(state.sessions) as db:
        return settings.value(db, name, **scope)


def events(state: Any) -> list[Event]:
    with transaction(state.sessions) as db:
        return list(db.scalars(select(Event).order_by(Event.id)))


@pytest.fixture
def tree(state: Any) -> dict[str, tuple[int, str]]:
    child = create_domain(state, "child")
    grand = create_domain(state, "grand", parent_id=child[0])
    other = create_domain(state, "other")
    return {"child": child, "grand": grand, "other": other}


@pytest.fixture
def secure_setting(state: Any) -> Iterator[Setting]:
    s = Setting("test.smtp.password", str, "s3cret", category="Secure", description="t")
    h = Setting("test.hidden.key", str, "h1dden", category="Hidden", description="t")
    for extra in (s, h):
        settings.SETTINGS[extra.name] = extra
    with transaction(state.sessions) as db:
        for extra in (s, h):
            db.add(Configuration(name=extra.name, category=extra.category, instance="DEFAULT",
                                 component="test", value=extra.default,
                                 default_value=extra.default, scope="Global",
                                 is_dynamic=True))
    yield s
    for extra in (s, h):
        del settings.SETTINGS[extra.name]


# --- the must-show scenario ---------------------------------------------------------------

def test_domain_value_applies_to_sub_domains_only_when_enabled(admin: Any, state: Any,
                                                               tree: dict) -> None:
    child_id, child_uuid = tree["child"]
    grand_id, _ = tree["grand"]
    body = admin.ok("updateConfiguration", name="webhook.delivery.tries", value="5",
                    domainid=child_uuid)
    cfg = body["configuration"]
    assert (cfg["name"], cfg["value"], cfg["scope"]) == ("webhook.delivery.tries", "5", "domain")
    assert value_of(state, "webhook.delivery.tries", domain_id=child_id) == 5
    assert value_of(state, "webhook.delivery.tries", domain_id=grand_id) == 3
    assert value_of(state, "webhook.delivery.tries") == 3

    admin.ok("updateConfiguration", name="enable.domain.settings.for.child.domain", value="true")
    assert value_of(state, "webhook.delivery.tries", domain_id=grand_id) == 5  # no restart

    body = admin.ok("resetConfiguration", name="webhook.delivery.tries", domainid=child_uuid)
    assert body["configuration"]["value"] == "3"
    assert body["configuration"]["scope"] == "Domain"
    assert value_of(state, "webhook.delivery.tries", domain_id=child_id) == 3
    assert value_of(state, "webhook.delivery.tries", domain_id=grand_id) == 3
    with transaction(state.sessions) as db:
        assert db.scalars(select(DomainDetail)).all() == []


def test_update_records_configuration_value_edit(admin: Any, state: Any, tree: dict) -> None:
    child_id, child_uuid = tree["child"]
    admin.ok("updateConfiguration", name="webhook.delivery.tries", value="5", domainid=child_uuid)
    admin.ok("updateConfiguration", name="webhook.dispatch.history.limit", value="50")
    admin.ok("resetConfiguration", name="webhook.dispatch.history.limit")
    scoped, global_, reset = events(state)
    assert (scoped.type, scoped.state, scoped.level) == ("CONFIGURATION.VALUE.EDIT",
                                                         "Completed", "INFO")
    assert scoped.description == ("Successfully completed updating configuration.  Name: "
                                  "webhook.delivery.tries, New Value: 5, Scope: Domain")
    assert (scoped.resource_type, scoped.resource_id) == ("Domain", child_id)
    assert scoped.account_id == 2 and scoped.user_id == 2
    assert global_.description == ("Successfully completed updating configuration.  Name: "
                                   "webhook.dispatch.history.limit New Value: 50")
    assert global_.resource_type is None
    assert reset.description == ("Successfully completed resetting configuration.  Name: "
                                 "webhook.dispatch.history.limit New Value: 100")


def test_global_update_is_dynamic_and_reset_restores_the_default(admin: Any,
                                                                 state: Any) -> None:
    body = admin.ok("updateConfiguration", name="webhook.dispatch.history.limit", value=" 25 ")
    assert body["configuration"]["value"] == "25"
    assert "scope" not in body["configuration"]
    assert value_of(state, "webhook.dispatch.history.limit") == 25
    body = admin.ok("resetConfiguration", name="webhook.dispatch.history.limit")
    assert body["configuration"]["value"] == "100"
    assert value_of(state, "webhook.dispatch.history.limit") == 100


def test_aliases_update_and_reset_the_canonical_setting(admin: Any, state: Any) -> None:
    body = admin.ok("listConfigurations", name="webhook.deliveries.limit")
    assert body["count"] == 1
    assert body["configuration"][0]["name"] == "webhook.dispatch.history.limit"
    body = admin.ok("updateConfiguration", name="webhook.deliveries.limit", value="7")
    assert body["configuration"]["name"] == "webhook.dispatch.history.limit"
    assert value_of(state, "webhook.dispatch.history.limit") == 7
    with transaction(state.sessions) as db:
        assert db.get(Configuration, "webhook.deliveries.limit") is None
    admin.ok("resetConfiguration", name="webhook.deliveries.limit")
    assert value_of(state, "webhook.dispatch.history.limit") == 100


def test_booleans_are_stored_lower_case(admin: Any, state: Any) -> None:
    admin.ok("updateConfiguration", name="webhook.delivery.allow.redirects", value="TRUE")
    with transaction(state.sessions) as db:
        assert db.get(Configuration, "webhook.delivery.allow.redirects").value == "true"


def test_empty_or_null_value_clears(admin: Any, state: Any, tree: dict) -> None:
    child_id, child_uuid = tree["child"]
    admin.ok("updateConfiguration", name="webhook.delivery.blocklist", value="10.0.0.0/8")
    body = admin.ok("updateConfiguration", name="webhook.delivery.blocklist", value="null")
    assert "value" not in body["configuration"]
    with transaction(state.sessions) as db:
        assert db.get(Configuration, "webhook.delivery.blocklist").value is None
    # A NULL global value reads as the default.
    assert value_of(state, "webhook.delivery.blocklist") == \
        settings.SETTINGS["webhook.delivery.blocklist"].default
    # In a scope, clearing stores "" (an empty list: nothing blocked for that domain).
    body = admin.ok("updateConfiguration", name="webhook.delivery.blocklist", value="",
                    domainid=child_uuid)
    assert body["configuration"]["value"] == ""
    assert value_of(state, "webhook.delivery.blocklist", domain_id=child_id) == ""


def test_value_absent_answers_the_current_value_and_changes_nothing(admin: Any, state: Any,
                                                                   tree: dict) -> None:
    _, child_uuid = tree["child"]
    admin.ok("updateConfiguration", name="webhook.delivery.tries", value="6",
             domainid=child_uuid)
    before = snapshot(state)
    body = admin.ok("updateConfiguration", name="webhook.delivery.tries", domainid=child_uuid)
    assert (body["configuration"]["value"], body["configuration"]["scope"]) == ("6", "domain")
    assert snapshot(state) == before


def test_detail_rows_are_updated_in_place(admin: Any, state: Any, tree: dict) -> None:
    child_id, child_uuid = tree["child"]
    for value in ("4", "8"):
        admin.ok("updateConfiguration", name="webhook.delivery.tries", value=value,
                 domainid=child_uuid)
    with transaction(state.sessions) as db:
        rows = db.scalars(select(DomainDetail)).all()
        assert [(r.domain_id, r.name, r.value) for r in rows] == [
            (child_id, "webhook.delivery.tries", "8")]


# --- rejected updates ---------------------------------------------------------------------

@pytest.mark.parametrize("params, code, text", [
    ({"name": "no.such.key", "value": "1"}, 431,
     "Config parameter with name no.such.key doesn't exist"),
    ({"name": "webhook.dispatch.history.limit", "value": "1", "domainid": "CHILD"}, 431,
     "Invalid scope id provided for the parameter webhook.dispatch.history.limit"),
    ({"name": "webhook.delivery.tries", "value": "1", "zoneid": "ZONE"}, 431,
     "Invalid scope id provided for the parameter webhook.delivery.tries"),
    ({"name": "webhook.delivery.tries", "value": "x", "domainid": "CHILD"}, 431,
     "There was error in trying to parse value: x. Please enter a valid integer value for "
     "parameter webhook.delivery.tries"),
    ({"name": "webhook.delivery.tries", "value": "0"}, 431,
     "Please enter a positive value for the configuration parameter:webhook.delivery.tries"),
    ({"name": "webhook.delivery.tries", "value": ""}, 431,
     "There was error in trying to parse value: null. Please enter a valid integer value for "
     "parameter webhook.delivery.tries"),
    ({"name": "webhook.delivery.allow.http", "value": "yes"}, 431,
     "Please enter either 'true' or 'false'."),
    ({"name": "webhook.delivery.blocklist", "value": "10.0.0.0/8,nope"}, 431,
     "Invalid CIDR [nope] in webhook delivery blocklist, expected a comma separated list such "
     "as 169.254.0.0/16,fe80::/10"),
    ({"name": "webhook.signature.encoding", "value": "base32", "domainid": "CHILD"}, 431,
     "The provided value is not a valid value for this configuration (Options are: "
     "[hex, base64])."),
    ({"name": "webhook.delivery.tries", "value": "2", "domainid": "CHILD", "zoneid": "ZONE"},
     431, "cannot handle multiple IDs, provide only one ID corresponding to the scope"),
])
def test_update_errors_change_nothing(admin: Any, state: Any, tree: dict, params: dict,
                                      code: int, text: str) -> None:
    zone = admin.ok("listZones")["zone"][0]["id"] if "zoneid" in params else None
    params = {k: {"CHILD": tree["child"][1], "ZONE": zone}.get(v, v) for k, v in params.items()}
    before = snapshot(state)
    res = admin.fails("updateConfiguration", code, text, **params)
    assert res.body["cserrorcode"] == 4350
    assert snapshot(state) == before


def test_unknown_scope_entities_are_unknown_uuids(admin: Any, state: Any) -> None:
    cluster = "8a1b59a8-4b7e-4e57-9d8b-9c0f0c8f9f01"
    res = admin.fails(
        "updateConfiguration", 431,
        "Unable to execute API command updateconfiguration due to invalid value. Invalid "
        f"parameter clusterid value={cluster} due to incorrect long value format, or entity "
        "does not exist or due to incorrect parameter annotation for the field in api cmd "
        "class.", name="webhook.delivery.tries", value="2", clusterid=cluster)
    assert res.body["cserrorcode"] == 9999


def test_removed_domain_cannot_get_a_value(admin: Any, state: Any, tree: dict) -> None:
    child_id, child_uuid = tree["child"]
    from csapi.db.models import Domain
    with transaction(state.sessions) as db:
        db.get(Domain, child_id).removed = db.get(Domain, child_id).created
    before = snapshot(state)
    admin.fails("updateConfiguration", 431, f"unable to find domain by id {child_id}",
                name="webhook.delivery.tries", value="2", domainid=child_uuid)
    assert snapshot(state) == before


# --- who may do what ----------------------------------------------------------------------

def test_domain_admin_works_in_its_subtree(app: Any, state: Any, tree: dict) -> None:
    child_id, child_uuid = tree["child"]
    grand_id, grand_uuid = tree["grand"]
    dadmin = create_tenant(app, state, "dadmin", domain_id=child_id, account_type=2).client
    # Without a scope id a domain admin acts on its own domain, never on the global value.
    body = dadmin.ok("updateConfiguration", name="webhook.delivery.tries", value="4")
    assert body["configuration"]["scope"] == "domain"
    assert value_of(state, "webhook.delivery.tries", domain_id=child_id) == 4
    assert value_of(state, "webhook.delivery.tries") == 3
    dadmin.ok("updateConfiguration", name="webhook.signature.encoding", value="base64",
              domainid=grand_uuid)
    assert value_of(state, "webhook.signature.encoding", domain_id=grand_id) == "base64"

    body = dadmin.ok("listConfigurations", name="webhook.delivery.tries")
    assert body["configuration"][0]["value"] == "4"
    assert body["configuration"][0]["scope"] == "domain"

    before = snapshot(state)
    dadmin.fails("updateConfiguration", 531,
                 "Account dadmin does not have permission to operate within domain "
                 f"id={tree['other'][1]}", name="webhook.delivery.tries", value="9",
                 domainid=tree["other"][1])
    dadmin.fails("listConfigurations", 531,
                 "Account dadmin does not have permission to operate within domain id="
                 f"{tree['other'][1]}", domainid=tree["other"][1])
    dadmin.fails("updateConfiguration", 431, "Invalid scope id provided for the parameter "
                 "webhook.dispatch.history.limit", name="webhook.dispatch.history.limit",
                 value="1")
    dadmin.fails("resetConfiguration", 432, "The API resetConfiguration does not exist or is "
                 "not available for this account.", name="webhook.delivery.tries")
    assert snapshot(state) == before


@pytest.mark.parametrize("name", ["webhook.delivery.blocklist", "webhook.delivery.allow.http",
                                  "webhook.delivery.allow.redirects", "api.key.access"])
def test_destination_policy_and_api_access_are_root_only(app: Any, state: Any, tree: dict,
                                                         name: str) -> None:
    dadmin = create_tenant(app, state, "dadmin", domain_id=tree["child"][0],
                           account_type=2).client
    value = "10.0.0.0/8" if name.endswith("blocklist") else "false"
    before = snapshot(state)
    res = dadmin.fails("updateConfiguration", 530,
                       "Only Root Admin is allowed to edit this configuration.",
                       name=name, value=value)
    assert res.body["cserrorcode"] == 4250
    assert snapshot(state) == before


def test_role_types_setting_is_for_the_default_admin_only(admin: Any, app: Any, state: Any,
                                                          tree: dict) -> None:
    name = "role.types.allowed.for.operations.on.accounts.of.same.role.type"
    root2 = create_tenant(app, state, "root2", account_type=1).client
    dadmin = create_tenant(app, state, "dadmin", domain_id=tree["child"][0],
                           account_type=2).client
    before = snapshot(state)
    for client in (root2, dadmin):
        client.fails("updateConfiguration", 530, "Only default admin is allowed to change this "
                     "setting", name=name, value="Admin")
    admin.fails("updateConfiguration", 530, "Invalid role types provided in value", name=name,
                value="Admin, Wizard")
    admin.fails("updateConfiguration", 530, "Value for role types must not be empty",
                name=name, value=" ")
    assert snapshot(state) == before
    body = admin.ok("updateConfiguration", name=name, value="Admin, DomainAdmin")
    assert state.secrets.decrypt(body["configuration"]["value"]) == "Admin, DomainAdmin"
    assert value_of(state, name) == "Admin, DomainAdmin"


def test_user_is_confined_to_its_own_account(app: Any, state: Any, tree: dict) -> None:
    alice = create_tenant(app, state, "alice", domain_id=tree["child"][0])
    bob = create_tenant(app, state, "bob", domain_id=tree["child"][0])
    before = snapshot(state)
    assert alice.client.ok("listConfigurations") == {}  # no Account settings are declared
    alice.client.fails("updateConfiguration", 431, "Invalid scope id provided for the "
                       "parameter webhook.delivery.tries", name="webhook.delivery.tries",
                       value="9")
    alice.client.fails("listConfigurations", 531, "Account alice does not have permission to "
                       "operate with resource account bob", accountid=bob.account_uuid)
    res = alice.client.fails("listConfigurations", 431, "cannot handle multiple IDs, provide "
                             "only one ID corresponding to the scope",
                             domainid=tree["child"][1])
    assert res.body["cserrorcode"] == 9999
    assert snapshot(state) == before


# --- listing ------------------------------------------------------------------------------

def test_global_listing_is_sorted_and_complete(admin: Any) -> None:
    body = admin.ok("listConfigurations")
    names = [c["name"] for c in body["configuration"]]
    assert names == listed()
    assert body["count"] == len(listed())
    tries = next(c for c in body["configuration"] if c["name"] == "webhook.delivery.tries")
    assert list(tries) == [f for f in FIELDS if f not in ("scope", "options")]
    assert tries == {
        "category": "Advanced", "group": "Miscellaneous", "subgroup": "Others",
        "name": "webhook.delivery.tries", "value": "3", "defaultvalue": "3",
        "description": "Number of tries to be made for a webhook delivery",
        "isdynamic": True, "component": "webhook", "displaytext": "Webhook delivery tries",
        "type": "Number",
    }
    encoding = next(c for c in body["configuration"]
                    if c["name"] == "webhook.signature.encoding")
    assert (encoding["type"], encoding["options"]) == ("Select", "hex,base64")


def test_listing_filters(admin: Any) -> None:
    body = admin.ok("listConfigurations", name="DELIVERY.TRIES")
    assert [c["name"] for c in body["configuration"]] == ["webhook.delivery.tries"]
    body = admin.ok("listConfigurations", name="webhook.deliveries")
    assert [c["name"] for c in body["configuration"]] == [
        "webhook.deliveries.cleanup.initial.delay", "webhook.dispatch.history.cleanup.interval",
        "webhook.dispatch.history.limit"]
    body = admin.ok("listConfigurations", category="System")
    assert [c["name"] for c in body["configuration"]] == ["api.key.access"]
    body = admin.ok("listConfigurations", keyword="X-CS-Signature")
    assert [c["name"] for c in body["configuration"]] == ["webhook.signature.encoding"]
    assert admin.ok("listConfigurations", name="nothing.like.this") == {}
    body = admin.ok("listConfigurations", group="miscellaneous", subgroup="Others")
    assert body["count"] == len(listed())
    body = admin.ok("listConfigurations", page=2, pagesize=5)
    assert body["count"] == len(listed()) and len(body["configuration"]) == 5
    assert body["configuration"][0]["name"] == listed()[5]


@pytest.mark.parametrize("params, text", [
    ({"subgroup": "Others"}, "Configuration group name must be specified with the subgroup "
     "name"),
    ({"group": "Nope"}, "Invalid configuration group: Nope"),
    ({"group": "Miscellaneous", "subgroup": "Nope"}, "Invalid configuration subgroup: Nope"),
])
def test_listing_group_errors(admin: Any, params: dict, text: str) -> None:
    assert admin.fails("listConfigurations", 431, text, **params).body["cserrorcode"] == 9999


def test_listing_in_a_domain_shows_effective_values(admin: Any, state: Any,
                                                    tree: dict) -> None:
    _, child_uuid = tree["child"]
    _, grand_uuid = tree["grand"]
    admin.ok("updateConfiguration", name="webhook.delivery.tries", value="5",
             domainid=child_uuid)
    admin.ok("updateConfiguration", name="webhook.delivery.timeout", value="20")
    body = admin.ok("listConfigurations", domainid=child_uuid)
    domain_keys = [n for n in listed() if settings.SETTINGS[n].scope == "Domain"]
    assert [c["name"] for c in body["configuration"]] == domain_keys
    values = {c["name"]: c["value"] for c in body["configuration"]}
    assert values["webhook.delivery.tries"] == "5"
    assert values["webhook.delivery.timeout"] == "20"  # the global value
    assert {c["scope"] for c in body["configuration"]} == {"domain"}
    body = admin.ok("listConfigurations", domainid=grand_uuid, name="tries")
    assert body["configuration"][0]["value"] == "3"
    # With a scope id, count is what the page holds.
    body = admin.ok("listConfigurations", domainid=child_uuid, page=1, pagesize=2)
    assert body["count"] == 2 and len(body["configuration"]) == 2


def test_zone_listing_is_empty(admin: Any) -> None:
    zone = admin.ok("listZones")["zone"][0]["id"]
    assert admin.ok("listConfigurations", zoneid=zone) == {}  # no Zone-scoped settings


def test_multiple_scope_ids_are_rejected_in_listings(admin: Any, app: Any, state: Any,
                                                     tree: dict) -> None:
    alice = create_tenant(app, state, "alice", domain_id=tree["child"][0])
    res = admin.fails("listConfigurations", 431, "cannot handle multiple IDs, provide only one "
                      "ID corresponding to the scope", domainid=tree["child"][1],
                      accountid=alice.account_uuid)
    assert res.body["cserrorcode"] == 9999


def test_account_settings_show_in_domain_listing_when_enabled(admin: Any, app: Any,
                                                              state: Any, tree: dict) -> None:
    quota = Setting("test.account.quota", int, "7", scope="Account", description="t")
    settings.SETTINGS[quota.name] = quota
    try:
        with transaction(state.sessions) as db:
            db.add(Configuration(name=quota.name, category="Advanced", instance="DEFAULT",
                                 component="t", value="7", default_value="7", scope="Account",
                                 is_dynamic=True))
        alice = create_tenant(app, state, "alice", domain_id=tree["child"][0])
        child_uuid = tree["child"][1]
        body = alice.client.ok("updateConfiguration", name="test.account.quota", value="8")
        assert body["configuration"]["scope"] == "account"
        assert value_of(state, "test.account.quota", account_id=alice.account_id) == 8
        assert alice.client.ok("listConfigurations")["configuration"][0]["value"] == "8"
        admin.fails("updateConfiguration", 431, "Invalid scope id provided for the parameter "
                    "test.account.quota", name="test.account.quota", value="9",
                    domainid=child_uuid)
        names = [c["name"] for c in admin.ok("listConfigurations",
                                             domainid=child_uuid)["configuration"]]
        assert "test.account.quota" not in names
        admin.ok("updateConfiguration", name="enable.account.settings.for.domain", value="true")
        admin.ok("updateConfiguration", name="test.account.quota", value="9",
                 domainid=child_uuid)
        body = admin.ok("listConfigurations", domainid=child_uuid, name="quota")
        assert body["configuration"][0]["value"] == "9"
        bob = create_tenant(app, state, "bob", domain_id=tree["child"][0])
        assert value_of(state, "test.account.quota", account_id=bob.account_id) == 9
        admin.ok("resetConfiguration", name="test.account.quota", accountid=alice.account_uuid)
        assert value_of(state, "test.account.quota", account_id=alice.account_id) == 9
    finally:
        del settings.SETTINGS[quota.name]


def test_secure_values_never_leave_in_clear(admin: Any, state: Any,
                                            secure_setting: Setting) -> None:
    body = admin.ok("listConfigurations", name="test.")
    assert [c["name"] for c in body["configuration"]] == ["test.smtp.password"]  # not Hidden
    shown = body["configuration"][0]
    assert "s3cret" not in (shown["value"], shown["defaultvalue"])
    assert state.secrets.decrypt(shown["value"]) == "s3cret"
    assert admin.ok("listConfigurations", keyword="s3cret") == {}  # no search oracle
    body = admin.ok("updateConfiguration", name="test.smtp.password", value="n3w")
    assert state.secrets.decrypt(body["configuration"]["value"]) == "n3w"
    assert "n3w" not in admin.call("updateConfiguration", name="test.smtp.password",
                                   value="n3w").text
    assert events(state)[-1].description == ("Successfully completed updating configuration."
                                             "  Name: test.smtp.password New Value: *****")

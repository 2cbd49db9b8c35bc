"""Roles and role permissions, and the role-based API access they drive."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from csapi.db import transaction
from csapi.db.models import Account, Event, Role, RolePermission
from csapi.seed import now
from tests.factories import Tenant, create_domain, create_tenant

ROLE_KEYS = ["id", "name", "type", "description", "isdefault", "ispublic", "state"]
PERMISSION_KEYS = ["id", "roleid", "rolename", "rule", "permission", "description"]


def counts(state: Any) -> tuple[int, int, int]:
    with transaction(state.sessions) as db:
        return (db.scalar(select(func.count()).select_from(Role)),
                db.scalar(select(func.count()).select_from(RolePermission)),
                db.scalar(select(func.count()).select_from(Event)))


def events_of(state: Any, event_type: str) -> list[Event]:
    with transaction(state.sessions) as db:
        rows = list(db.scalars(select(Event).where(Event.type == event_type)
                               .order_by(Event.id)))
        db.expunge_all()
        return rows


def give_role(state: Any, tenant: Tenant, role_uuid: str) -> None:
    with transaction(state.sessions) as db:
        role = db.scalar(select(Role).where(Role.uuid == role_uuid))
        db.get(Account, tenant.account_id).role_id = role.id


def role_uuid(state: Any, role_id: int) -> str:
    with transaction(state.sessions) as db:
        return db.get(Role, role_id).uuid


def custom_role(admin: Any, name: str = "custom", role_type: str = "User",
                rules: tuple[tuple[str, str], ...] = ()) -> str:
    role = admin.ok("createRole", name=name, type=role_type)["role"]
    for rule, permission in rules:
        admin.ok("createRolePermission", roleid=role["id"], rule=rule, permission=permission)
    return role["id"]


@pytest.fixture
def user(app, state) -> Tenant:  # type: ignore[no-untyped-def]
    return create_tenant(app, state, "alice")


@pytest.fixture
def domain_admin(app, state) -> Tenant:  # type: ignore[no-untyped-def]
    domain_id, _ = create_domain(state, "dept")
    return create_tenant(app, state, "dadmin", domain_id=domain_id, account_type=2)


# --- listRoles ------------------------------------------------------------------------------

def test_root_admin_lists_the_default_roles_in_id_order(admin) -> None:
    body = admin.ok("listRoles")
    assert body["count"] == 6
    assert [r["name"] for r in body["role"]] == [
        "Root Admin", "Resource Admin", "Domain Admin", "User",
        "Read-Only Admin - Default", "Read-Only User - Default"]
    first = body["role"][0]
    assert list(first) == ROLE_KEYS
    assert first["type"] == "Admin" and first["isdefault"] is True
    assert first["ispublic"] is True and first["state"] == "Enabled"
    assert first["description"] == "Default root admin role"


def test_admin_roles_are_hidden_from_domain_admins(admin, domain_admin) -> None:
    body = domain_admin.client.ok("listRoles")
    assert body["count"] == 4
    assert [r["type"] for r in body["role"]] == ["ResourceAdmin", "DomainAdmin", "User", "User"]
    root_role = admin.ok("listRoles", name="Root Admin")["role"][0]["id"]
    assert domain_admin.client.ok("listRoles", id=root_role) == {}
    assert domain_admin.client.ok("listRoles", type="Admin") == {}


def test_private_roles_are_hidden_from_non_root(admin, domain_admin) -> None:
    rid = admin.ok("createRole", name="secret", type="User", ispublic=False)["role"]["id"]
    assert admin.ok("listRoles", id=rid)["role"][0]["ispublic"] is False
    assert domain_admin.client.ok("listRoles", id=rid) == {}


def test_list_roles_filters(admin) -> None:
    assert [r["name"] for r in admin.ok("listRoles", name="Read-Only")["role"]] == [
        "Read-Only Admin - Default", "Read-Only User - Default"]
    assert admin.ok("listRoles", keyword="Admin")["count"] == 4
    assert [r["name"] for r in admin.ok("listRoles", type="User")["role"]] == [
        "User", "Read-Only User - Default"]
    assert admin.ok("listRoles", state="enabled")["count"] == 6
    assert admin.ok("listRoles", state="Disabled") == {}
    page = admin.ok("listRoles", page=2, pagesize=4)
    assert page["count"] == 6 and len(page["role"]) == 2
    admin.fails("listRoles", 431, "No enum constant org.apache.cloudstack.acl.RoleType.Bogus",
                type="Bogus")


def test_normal_users_may_not_list_roles(user) -> None:
    res = user.client.fails("listRoles", 432,
                            "The API listRoles does not exist or is not available for this "
                            "account.")
    assert res.envelope == "errorresponse"


# --- createRole / updateRole / deleteRole -----------------------------------------------------

def test_create_role_and_its_event(admin, state) -> None:
    body = admin.ok("createRole", name="Ops", type="DomainAdmin", description="operators")
    role = body["role"]
    assert list(role) == ["id", "name", "type", "description", "ispublic", "state"]
    assert role["name"] == "Ops" and role["type"] == "DomainAdmin"
    assert role["description"] == "operators" and role["ispublic"] is True
    assert role["state"] == "Enabled"
    listed = admin.ok("listRoles", id=role["id"])["role"][0]
    assert listed["isdefault"] is False
    [event] = events_of(state, "ROLE.CREATE")
    assert event.state == "Completed" and event.resource_type == "Role"
    assert event.description == ("Successfully completed creating Role. Role: Ops, type: "
                                 "DomainAdmin, description: operators")


def test_create_role_by_cloning_copies_rules_in_order(admin, state) -> None:
    source = custom_role(admin, "src", rules=(("list*", "allow"), ("get*", "allow"),
                                              ("*", "deny")))
    clone = admin.ok("createRole", name="copy", roleid=source, description="c")["role"]
    assert clone["type"] == "User"
    rules = admin.ok("listRolePermissions", roleid=clone["id"])
    assert [(r["rule"], r["permission"]) for r in rules["rolepermission"]] == [
        ("list*", "allow"), ("get*", "allow"), ("*", "deny")]
    last = events_of(state, "ROLE.CREATE")[-1]
    with transaction(state.sessions) as db:
        source_id = db.scalar(select(Role.id).where(Role.uuid == source))
    assert last.description == ("Successfully completed creating role by cloning another "
                                f"role. Role: copy, from role: {source_id}, description: c")


@pytest.mark.parametrize("params, code, text", [
    ({}, 431, "Neither role type nor role ID is provided"),
    ({"type": "User", "roleid": "ROLE4"}, 431,
     "Both role type and role ID should not be specified"),
    ({"type": "Unknown"}, 431, "Invalid role type provided"),
    ({"type": "user"}, 530, "Illegal RoleType name provided"),
])
def test_create_role_rejections(admin, state, params, code, text) -> None:
    params = {k: role_uuid(state, 4) if v == "ROLE4" else v for k, v in params.items()}
    before = counts(state)
    admin.fails("createRole", code, text, name="bad", **params)
    assert counts(state) == before


def test_create_role_needs_a_name(admin) -> None:
    admin.fails("createRole", 431, "Unable to execute API command createrole due to missing "
                "parameter name", type="User")


def test_clone_of_a_removed_role_is_refused(admin) -> None:
    rid = custom_role(admin, "gone")
    admin.ok("deleteRole", id=rid)
    admin.fails("createRole", 431, "Invalid role id provided", name="x", roleid=rid)


def test_update_role(admin, state) -> None:
    rid = custom_role(admin, "before")
    role = admin.ok("updateRole", id=rid, name="after", description="new text",
                    type="DomainAdmin")["role"]
    assert (role["name"], role["description"], role["type"]) == ("after", "new text",
                                                                  "DomainAdmin")
    role = admin.ok("updateRole", id=rid, ispublic=False)["role"]
    assert role["ispublic"] is False and role["name"] == "after"
    [event] = events_of(state, "ROLE.UPDATE")[:1]
    assert event.description == ("Successfully completed updating Role. Role: after, "
                                 "type:DomainAdmin, description: new text")


def test_update_role_rejections(admin, app, state) -> None:
    default = role_uuid(state, 4)
    admin.fails("updateRole", 531, "Default roles cannot be updated (with the exception of "
                "making it private/public).", id=default, name="mine")
    admin.ok("updateRole", id=default, ispublic=False)
    assert admin.ok("listRoles", id=default)["role"][0]["ispublic"] is False
    rid = custom_role(admin, "inuse")
    admin.fails("updateRole", 431, "Unknown is not a valid role type", id=rid, type="Unknown")
    tenant = create_tenant(app, state, "bob")
    give_role(state, tenant, rid)
    admin.fails("updateRole", 531, "Found accounts that have role in use, won't allow to "
                "change role type", id=rid, type="DomainAdmin", name="renamed")
    assert admin.ok("listRoles", id=rid)["role"][0]["name"] == "inuse"


def test_delete_role(admin, app, state) -> None:
    rid = custom_role(admin, "temp", rules=(("list*", "allow"),))
    tenant = create_tenant(app, state, "carol")
    give_role(state, tenant, rid)
    admin.fails("deleteRole", 531, "Found accounts that have role in use, won't allow to "
                "delete role", id=rid)
    give_role(state, tenant, role_uuid(state, 4))
    assert admin.ok("deleteRole", id=rid) == {"success": True}
    assert admin.ok("listRoles", id=rid) == {}
    with transaction(state.sessions) as db:
        role = db.scalar(select(Role).where(Role.uuid == rid))
        assert role.removed is not None
        assert db.scalar(select(func.count()).select_from(RolePermission)
                         .where(RolePermission.role_id == role.id)) == 0
    [event] = events_of(state, "ROLE.DELETE")
    assert event.description.startswith("Successfully completed deleting Role. Role id: ")
    admin.fails("deleteRole", 431, "Cannot find the role with provided id", id=rid)
    admin.fails("deleteRole", 531, "Default roles cannot be deleted", id=role_uuid(state, 1))


def test_role_apis_are_root_admin_only(domain_admin, user, state) -> None:
    for client in (domain_admin.client, user.client):
        client.fails("createRole", 432, "The API createRole does not exist or is not available "
                     "for this account.", name="x", type="User")


def test_non_admin_role_type_granted_create_role_is_refused(admin, user, state) -> None:
    before = counts(state)
    rid = custom_role(admin, "sneaky", rules=(("createRole", "allow"),))
    give_role(state, user, rid)
    user.client.fails("createRole", 531, "Restricted API called by a user account of non-Admin "
                      "role type", name="x", type="User")
    assert counts(state)[0] == before[0] + 1  # only "sneaky" itself


# --- role permissions -------------------------------------------------------------------------

def test_create_and_list_role_permissions(admin, state) -> None:
    rid = custom_role(admin, "perm")
    first = admin.ok("createRolePermission", roleid=rid, rule="listZones", permission="ALLOW",
                     description="zones")["rolepermission"]
    assert list(first) == PERMISSION_KEYS
    assert first["roleid"] == rid and first["rolename"] == "perm"
    assert first["permission"] == "allow" and first["description"] == "zones"
    admin.ok("createRolePermission", roleid=rid, rule="*", permission="deny")
    body = admin.ok("listRolePermissions", roleid=rid)
    assert body["count"] == 2
    assert [(r["rule"], r["permission"]) for r in body["rolepermission"]] == [
        ("listZones", "allow"), ("*", "deny")]
    assert "description" not in body["rolepermission"][1]
    with transaction(state.sessions) as db:
        orders = list(db.scalars(select(RolePermission.sort_order).join(
            Role, Role.id == RolePermission.role_id).where(Role.uuid == rid)
            .order_by(RolePermission.id)))
    assert orders == [0, 1]
    event = events_of(state, "ROLE.PERMISSION.CREATE")[0]
    assert event.resource_type == "RolePermission"
    assert event.description.endswith(", rule:listZones, permission: ALLOW, description: zones")
    everything = admin.ok("listRolePermissions")
    assert everything["count"] == 2 + 2 * 5  # plus the read-only defaults' 5 rules each


@pytest.mark.parametrize("rule, permission, code, text", [
    ("list-zones", "allow", 431, "Only API names and wildcards are allowed, invalid rule "
     "provided: list-zones"),
    ("list*", "maybe", 431, "No enum constant org.apache.cloudstack.acl.RolePermissionEntity."
     "Permission.MAYBE"),
])
def test_create_role_permission_rejections(admin, state, rule, permission, code, text) -> None:
    rid = custom_role(admin, "strict")
    before = counts(state)
    admin.fails("createRolePermission", code, text, roleid=rid, rule=rule,
                permission=permission)
    assert counts(state) == before


def test_duplicate_rules_and_default_roles_are_refused(admin, state) -> None:
    rid = custom_role(admin, "dup", rules=(("list*", "allow"),))
    admin.fails("createRolePermission", 531, "Rule already exists for the role: dup",
                roleid=rid, rule="list*", permission="deny")
    admin.fails("createRolePermission", 531, "Role permission cannot be added for Default "
                "roles", roleid=role_uuid(state, 4), rule="list*", permission="allow")


def test_reorder_role_permissions(admin, state) -> None:
    rid = custom_role(admin, "order", rules=(("a*", "allow"), ("b*", "allow"),
                                             ("c*", "deny")))
    ids = [r["id"] for r in admin.ok("listRolePermissions", roleid=rid)["rolepermission"]]
    new_order = [ids[2], ids[0], ids[1]]
    assert admin.ok("updateRolePermission", roleid=rid,
                    ruleorder=",".join(new_order)) == {"success": True}
    listed = admin.ok("listRolePermissions", roleid=rid)["rolepermission"]
    assert [r["id"] for r in listed] == new_order
    [event] = events_of(state, "ROLE.PERMISSION.UPDATE")
    assert event.description.startswith("Successfully completed updating Role Permission "
                                         "order. Reordering permissions for role id: ")
    admin.fails("updateRolePermission", 530, "The role's rule permissions list has changed "
                "while you were making updates, aborted re-ordering of rules. Please try "
                "again.", roleid=rid, ruleorder=",".join(new_order[:2]))
    admin.fails("updateRolePermission", 431, "Parameters permission and ruleid must be "
                "mutually exclusive with ruleorder", roleid=rid, ruleorder=ids[0],
                ruleid=ids[0])
    assert [r["id"] for r in admin.ok("listRolePermissions", roleid=rid)["rolepermission"]] \
        == new_order


def test_update_a_rule_permission(admin, state) -> None:
    rid = custom_role(admin, "flip", rules=(("list*", "allow"),))
    [rule] = admin.ok("listRolePermissions", roleid=rid)["rolepermission"]
    assert admin.ok("updateRolePermission", roleid=rid, ruleid=rule["id"],
                    permission="deny") == {"success": True}
    assert admin.ok("listRolePermissions", roleid=rid)["rolepermission"][0]["permission"] \
        == "deny"
    assert events_of(state, "ROLE.PERMISSION.UPDATE") == []  # CloudStack records none
    admin.fails("updateRolePermission", 431, "Values for permission parameter should be: "
                "allow or deny", roleid=rid, ruleid=rule["id"], permission="perhaps")
    other = custom_role(admin, "other")
    assert admin.ok("updateRolePermission", roleid=other, ruleid=rule["id"],
                    permission="allow") == {"success": False}
    assert admin.ok("updateRolePermission", roleid=rid) == {"success": False}
    read_only = role_uuid(state, 6)
    rule6 = admin.ok("listRolePermissions", roleid=read_only)["rolepermission"][0]["id"]
    admin.fails("updateRolePermission", 531, "Role permission cannot be updated for Default "
                "roles", roleid=read_only, ruleid=rule6, permission="deny")


def test_delete_role_permission(admin, state) -> None:
    rid = custom_role(admin, "del", rules=(("list*", "allow"), ("*", "deny")))
    first = admin.ok("listRolePermissions", roleid=rid)["rolepermission"][0]["id"]
    assert admin.ok("deleteRolePermission", id=first) == {"success": True}
    assert [r["rule"] for r in admin.ok("listRolePermissions",
                                        roleid=rid)["rolepermission"]] == ["*"]
    [event] = events_of(state, "ROLE.PERMISSION.DELETE")
    assert event.description.startswith("Successfully completed deleting Role Permission. "
                                        "Role permission id: ")
    default_rule = admin.ok("listRolePermissions",
                            roleid=role_uuid(state, 5))["rolepermission"][0]["id"]
    admin.fails("deleteRolePermission", 531, "Role permission cannot be deleted for Default "
                "roles", id=default_rule)


# --- the rules at work ------------------------------------------------------------------------

def test_list_only_role_denies_everything_else(admin, user, state) -> None:
    rid = custom_role(admin, "reader", rules=(("list*", "allow"), ("*", "deny")))
    give_role(state, user, rid)
    assert user.client.ok("listZones")["count"] == 1
    res = user.client.fails("registerUserKeys", 401, "The given command 'registerUserKeys' "
                            "either does not exist, is not available for user.",
                            id=user.user_uuid)
    assert "cserrorcode" not in res.body
    names = {a["name"] for a in user.client.ok("listApis")["api"]}
    assert names and all(n.startswith("list") for n in names)
    assert {"listZones", "listApis", "listSSHKeyPairs"} <= names
    # list* ALLOW grants even an API the User role type is not authorized for.
    assert "listRoles" in names
    assert user.client.ok("listRoles")["count"] == 5  # non-Admin roles, "reader" included


def test_rules_match_case_insensitively(admin, user, state) -> None:
    rid = custom_role(admin, "shouty", rules=(("LISTZONES", "deny"),))
    give_role(state, user, rid)
    user.client.fails("listZones", 401, "The given command 'listZones' either does not exist, "
                      "is not available for user.")
    assert user.client.ok("listSSHKeyPairs") == {}


def test_without_a_matching_rule_the_role_type_decides(admin, user, state) -> None:
    rid = custom_role(admin, "nothing")
    give_role(state, user, rid)
    res = user.client.fails("listRoles", 432, "The API listRoles does not exist or is not "
                            "available for this account.")
    assert res.envelope == "errorresponse"
    assert user.client.ok("listZones")["count"] == 1
    names = {a["name"] for a in user.client.ok("listApis")["api"]}
    assert "listZones" in names and "listRoles" not in names and "createRole" not in names


def test_first_matching_rule_wins_after_reordering(admin, user, state) -> None:
    rid = custom_role(admin, "ordered", rules=(("listZones", "deny"), ("list*", "allow")))
    give_role(state, user, rid)
    user.client.fails("listZones", 401)
    ids = [r["id"] for r in admin.ok("listRolePermissions", roleid=rid)["rolepermission"]]
    admin.ok("updateRolePermission", roleid=rid, ruleorder=f"{ids[1]},{ids[0]}")
    assert user.client.ok("listZones")["count"] == 1


def test_role_event_payload_names_the_role(admin, state) -> None:
    seen: list[Any] = []
    state.bus.subscribe(seen.append)
    try:
        role = admin.ok("createRole", name="Payload", type="User")["role"]
    finally:
        state.bus.unsubscribe(seen.append)
    [event] = [e for e in seen if e.event_type == "ROLE.CREATE"]
    payload = json.loads(event.payload)
    assert payload["entity"] == "Role" and payload["entityuuid"] == role["id"]
    assert payload["status"] == "Completed"


def test_removed_roles_stay_out_of_listings(admin, state) -> None:
    rid = custom_role(admin, "ghost")
    with transaction(state.sessions) as db:
        db.scalar(select(Role).where(Role.uuid == rid)).removed = now()
    assert admin.ok("listRoles", name="ghost") == {}
    admin.fails("updateRole", 431, "Invalid role id provided", id=rid, name="x")
    admin.fails("createRolePermission", 431, "Invalid role id provided", roleid=rid,
                rule="list*", permission="allow")

"""Roles and role permissions (CloudStack's dynamic role-based API access).

The rules themselves are evaluated in csapi.api.acl (first matching rule in sort order); these
commands manage them with RoleManagerImpl's checks, texts and events.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from typing import Any

from sqlalchemy import func, select

from csapi.api.context import CallContext
from csapi.api.errors import (
    CloudRuntimeError,
    InvalidParameterValue,
    ParamError,
    PermissionDenied,
    ServerError,
)
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ADMIN,
    DOMAIN_ADMIN,
    RESOURCE_ADMIN,
    ROOT_ONLY,
    EventSpec,
    Kind,
    ListResult,
    Param,
    SuccessResult,
    command,
    obj,
)
from csapi.db.models import Account, Role, RolePermission
from csapi.seed import now

ROLE_TYPES = ("Admin", "ResourceAdmin", "DomainAdmin", "User")
_RULE_RE = re.compile(r"^[a-zA-Z0-9*]+$")

ROLE = obj(
    "role",
    ("id", "string", "the ID of the role"),
    ("name", "string", "the name of the role"),
    ("type", "string", "the type of the role"),
    ("description", "string", "the description of the role"),
    ("isdefault", "boolean", "true if role is default, false otherwise"),
    ("ispublic", "boolean", "Indicates whether the role will be visible to all users (public) "
     "or only to root admins (private)."),
    ("state", "string", "the state of the role"),
)
ROLE_PERMISSION = obj(
    "rolepermission",
    ("id", "string", "the ID of the role permission"),
    ("roleid", "string", "the ID of the role to which the role permission belongs"),
    ("rolename", "string", "the name of the role to which the role permission belongs"),
    ("rule", "string", "the api name or wildcard rule"),
    ("permission", "string", "the permission type of the api name or wildcard rule, allow/deny"),
    ("description", "string", "the description of the role permission"),
)

CREATE_ROLE = EventSpec("ROLE.CREATE", "creating Role")
CLONE_ROLE = "creating role by cloning another role"
UPDATE_ROLE = EventSpec("ROLE.UPDATE", "updating Role")
DELETE_ROLE = EventSpec("ROLE.DELETE", "deleting Role")
CREATE_PERMISSION = EventSpec("ROLE.PERMISSION.CREATE", "creating Role Permission")
UPDATE_PERMISSION = EventSpec("ROLE.PERMISSION.UPDATE", "updating Role Permission order")
DELETE_PERMISSION = EventSpec("ROLE.PERMISSION.DELETE", "deleting Role Permission")


def role_view(role: Role, *, listing: bool = False) -> dict[str, Any]:
    """RoleResponse; listRoles also reports `isdefault`, create/update do not."""
    return {
        "id": role.uuid, "name": role.name, "type": role.role_type,
        "description": role.description,
        "isdefault": bool(role.is_default) if listing else None,
        "ispublic": bool(role.public_role), "state": (role.state or "ENABLED").capitalize(),
    }


def permission_view(perm: RolePermission, role: Role) -> dict[str, Any]:
    return {
        "id": perm.uuid, "roleid": role.uuid, "rolename": role.name, "rule": perm.rule,
        "permission": perm.permission.lower(), "description": perm.description,
    }


def _event(ctx: CallContext, spec: EventSpec, details: str, resource: Any,
            resource_type: str, description: str | None = None) -> None:
    """CloudStack appends the command's event details to the description."""
    ctx.event_details.update(
        completed=f"Successfully completed {description or spec.description}. {details}",
        resource_type=resource_type, resource_id=resource.id, resource_uuid=resource.uuid,
    )


def _text(value: Any) -> str:
    return "null" if value is None else str(value)


def check_caller(ctx: CallContext) -> None:
    """RoleManagerImpl.checkCallerAccess: only Admin-type roles manage roles."""
    if ctx.account.role_id is None:
        raise PermissionDenied("Restricted API called by an invalid user account")
    if ctx.role.role_type != ADMIN:
        raise PermissionDenied("Restricted API called by a user account of non-Admin role type")


def visible_role(ctx: CallContext, role: Role | None, *, ignore_private: bool = False
                 ) -> Role | None:
    """RoleManagerImpl.findRole: Admin-type (and, when asked, private) roles exist only for
    root admins; removed roles not at all."""
    if role is None or role.removed is not None:
        return None
    if not ctx.is_root_admin and (role.role_type == ADMIN
                                  or (ignore_private and not role.public_role)):
        return None
    return role


def parse_role_type(value: str | None) -> str | None:
    """RoleType.fromString: exact enum names; anything else is an IllegalStateException."""
    if not value:
        return None
    if value in ROLE_TYPES or value == "Unknown":
        return value
    raise ServerError("Illegal RoleType name provided")


def accounts_using(ctx: CallContext, role: Role) -> int:
    return ctx.db.scalar(select(func.count()).select_from(Account).where(
        Account.role_id == role.id, Account.removed.is_(None))) or 0


# --- roles ------------------------------------------------------------------------------------

@command(
    "listRoles",
    description="Lists dynamic roles in CloudStack",
    params=[
        Param("id", "uuid", description="List role by role ID.", entity=Role),
        Param("name", description="List role by role name."),
        Param("type", description="List role by role type, valid options are: Admin, "
              "ResourceAdmin, DomainAdmin, User."),
        Param("state", description="List role by role type status, valid options are: "
              "Enabled, Disabled", since="4.20.0"),
    ],
    response=ROLE,
    kind=Kind.LIST,
    authorized=frozenset({ADMIN, RESOURCE_ADMIN, DOMAIN_ADMIN}),
    since="4.9.0",
)
def list_roles(ctx: CallContext, p: Params) -> ListResult:
    role_type = p["type"]
    if role_type and role_type not in ROLE_TYPES + ("Unknown",):
        raise ParamError(f"No enum constant org.apache.cloudstack.acl.RoleType.{role_type}")
    stmt = select(Role).where(Role.removed.is_(None))
    if not ctx.is_root_admin:
        stmt = stmt.where(Role.role_type != ADMIN, Role.public_role.is_(True))
    if p["id"] is not None:
        stmt = stmt.where(Role.id == p["id"].id)
    if p["name"]:
        stmt = stmt.where(Role.name.like(f"%{p['name']}%"))
    if p["keyword"]:
        stmt = stmt.where(Role.name.like(f"%{p['keyword']}%"))
    if role_type:
        stmt = stmt.where(Role.role_type == role_type)
    if p["state"]:
        stmt = stmt.where(func.upper(Role.state) == p["state"].upper())
    return page_query(ctx, p, stmt.order_by(Role.id), lambda r: role_view(r, listing=True))


@command(
    "createRole",
    description="Creates a role",
    params=[
        Param("name", required=True, description="Creates a role with this unique name"),
        Param("type", description="The type of the role, valid options are: Admin, "
              "ResourceAdmin, DomainAdmin, User"),
        Param("roleid", "uuid", description="ID of the role to be cloned from. Either roleid or "
              "type must be passed in", entity=Role, since="4.15.0"),
        Param("description", description="The description of the role"),
        Param("ispublic", "boolean", description="Indicates whether the role will be visible to "
              "all users (public) or only to root admins (private). If this parameter is not "
              "specified during the creation of the role its value will be defaulted to true "
              "(public).", since="4.15.0"),
    ],
    response=ROLE,
    authorized=ROOT_ONLY,
    since="4.9.0",
    event=CREATE_ROLE,
)
def create_role(ctx: CallContext, p: Params) -> dict[str, Any]:
    role_type = parse_role_type(p["type"])
    source = p["roleid"]
    if role_type is None and source is None:
        raise ParamError("Neither role type nor role ID is provided")
    if role_type is not None and source is not None:
        raise ParamError("Both role type and role ID should not be specified")
    public = p.get("ispublic", True)
    if source is not None:
        source = visible_role(ctx, source)
        if source is None:
            raise ParamError("Invalid role id provided")
        check_caller(ctx)
        role = _new_role(ctx, p["name"], source.role_type, p["description"], public)
        rules = ctx.db.scalars(select(RolePermission).where(RolePermission.role_id == source.id)
                               .order_by(RolePermission.sort_order, RolePermission.id))
        for order, rule in enumerate(list(rules)):
            ctx.db.add(RolePermission(uuid=str(uuidlib.uuid4()), role_id=role.id,
                                      rule=rule.rule, permission=rule.permission,
                                      description=rule.description, sort_order=order))
        details = (f"Role: {p['name']}, from role: {source.id}, description: "
                   f"{_text(p['description'])}")
        _event(ctx, CREATE_ROLE, details, role, "Role", CLONE_ROLE)
    else:
        check_caller(ctx)
        if role_type == "Unknown":
            raise ParamError("Invalid role type provided")
        role = _new_role(ctx, p["name"], role_type, p["description"], public)
        details = (f"Role: {p['name']}, type: {role_type}, description: "
                   f"{_text(p['description'])}")
        _event(ctx, CREATE_ROLE, details, role, "Role")
    return role_view(role)


def _new_role(ctx: CallContext, name: str, role_type: str | None, description: str | None,
              public: bool) -> Role:
    role = Role(uuid=str(uuidlib.uuid4()), name=name, role_type=role_type,
                description=description, is_default=False, public_role=public, state="ENABLED")
    ctx.db.add(role)
    ctx.db.flush()
    return role


@command(
    "updateRole",
    description="Updates a role",
    params=[
        Param("id", "uuid", True, "ID of the role", entity=Role),
        Param("name", description="creates a role with this unique name"),
        Param("type", description="The type of the role, valid options are: Admin, "
              "ResourceAdmin, DomainAdmin, User"),
        Param("description", description="The description of the role"),
        Param("ispublic", "boolean", description="Indicates whether the role will be visible to "
              "all users (public) or only to root admins (private).", since="4.15.0"),
    ],
    response=ROLE,
    authorized=ROOT_ONLY,
    since="4.9.0",
    event=UPDATE_ROLE,
)
def update_role(ctx: CallContext, p: Params) -> dict[str, Any]:
    role = visible_role(ctx, p["id"])
    if role is None:
        raise ParamError("Invalid role id provided")
    role_type = parse_role_type(p["type"])
    check_caller(ctx)
    if role_type == "Unknown":
        raise ParamError("Unknown is not a valid role type")
    public = p["ispublic"]
    if role.is_default:
        if public is None or role_type is not None or p["name"] or p["description"]:
            raise PermissionDenied("Default roles cannot be updated (with the exception of "
                                   "making it private/public).")
        role.public_role = public
    else:
        if p["name"]:
            role.name = p["name"]
        if role_type is not None and role_type != role.role_type:
            if accounts_using(ctx, role):
                raise PermissionDenied("Found accounts that have role in use, won't allow to "
                                       "change role type")
            role.role_type = role_type
        if p["description"]:
            role.description = p["description"]
        if public is not None:
            role.public_role = public
    details = (f"Role: {_text(p['name'])}, type:{_text(role_type)}, description: "
               f"{_text(p['description'])}")
    _event(ctx, UPDATE_ROLE, details, role, "Role")
    return role_view(role)


@command(
    "deleteRole",
    description="Deletes a role",
    params=[Param("id", "uuid", True, "ID of the role", entity=Role)],
    authorized=ROOT_ONLY,
    since="4.9.0",
    event=DELETE_ROLE,
)
def delete_role(ctx: CallContext, p: Params) -> SuccessResult:
    role = visible_role(ctx, p["id"])
    if role is None:
        raise ParamError("Cannot find the role with provided id")
    check_caller(ctx)
    if role.is_default:
        raise PermissionDenied("Default roles cannot be deleted")
    if accounts_using(ctx, role):
        raise PermissionDenied("Found accounts that have role in use, won't allow to delete "
                               "role")
    for perm in ctx.db.scalars(select(RolePermission).where(RolePermission.role_id == role.id)):
        ctx.db.delete(perm)
    role.removed = now()
    _event(ctx, DELETE_ROLE, f"Role id: {role.id}", role, "Role")
    return SuccessResult()


# --- role permissions -------------------------------------------------------------------------

def _permission_value(value: str) -> str:
    """BaseRolePermissionCmd.getPermission: Permission.valueOf(upper case)."""
    upper = value.upper()
    if upper not in ("ALLOW", "DENY"):
        raise ParamError("No enum constant org.apache.cloudstack.acl.RolePermissionEntity."
                         f"Permission.{upper}")
    return upper


@command(
    "createRolePermission",
    description="Adds an API permission to a role",
    params=[
        Param("roleid", "uuid", True, "ID of the role", entity=Role),
        Param("rule", required=True, description="The API name or wildcard rule such as list*"),
        Param("permission", required=True, description="The rule permission, allow or deny. "
              "Default: deny."),
        Param("description", description="The description of the role permission"),
    ],
    response=ROLE_PERMISSION,
    authorized=ROOT_ONLY,
    since="4.9.0",
    event=CREATE_PERMISSION,
)
def create_role_permission(ctx: CallContext, p: Params) -> dict[str, Any]:
    role = visible_role(ctx, p["roleid"])
    if role is None:
        raise ParamError("Invalid role id provided")
    rule = p["rule"]
    if not _RULE_RE.match(rule):
        raise InvalidParameterValue("Only API names and wildcards are allowed, invalid rule "
                                    f"provided: {rule}")
    permission = _permission_value(p["permission"])
    check_caller(ctx)
    if role.is_default:
        raise PermissionDenied("Role permission cannot be added for Default roles")
    exists = ctx.db.scalar(select(RolePermission.id).where(
        RolePermission.role_id == role.id, RolePermission.rule == rule))
    if exists is not None:
        raise PermissionDenied(f"Rule already exists for the role: {role.name}")
    last = ctx.db.scalar(select(func.max(RolePermission.sort_order)).where(
        RolePermission.role_id == role.id))
    perm = RolePermission(uuid=str(uuidlib.uuid4()), role_id=role.id, rule=rule,
                          permission=permission, description=p["description"],
                          sort_order=0 if last is None else last + 1)
    ctx.db.add(perm)
    ctx.db.flush()
    details = (f"Role id: {role.id}, rule:{rule}, permission: {permission}, description: "
               f"{_text(p['description'])}")
    _event(ctx, CREATE_PERMISSION, details, perm, "RolePermission")
    return permission_view(perm, role)


@command(
    "listRolePermissions",
    description="Lists role permissions",
    params=[Param("roleid", "uuid", description="ID of the role", entity=Role)],
    response=ROLE_PERMISSION,
    authorized=ROOT_ONLY,
    since="4.9.0",
)
def list_role_permissions(ctx: CallContext, p: Params) -> ListResult:
    # Not a paged list: every rule, in evaluation order.
    stmt = select(RolePermission, Role).join(Role, Role.id == RolePermission.role_id)
    if p["roleid"] is not None:
        stmt = stmt.where(RolePermission.role_id == p["roleid"].id)
    rows = ctx.db.execute(stmt.order_by(RolePermission.role_id, RolePermission.sort_order,
                                        RolePermission.id)).all()
    return ListResult([permission_view(perm, role) for perm, role in rows], len(rows))


@command(
    "updateRolePermission",
    description="Updates a role permission order",
    params=[
        Param("roleid", "uuid", True, "ID of the role", entity=Role),
        Param("ruleorder", "list", description="The parent role permission uuid, use 0 to move "
              "this rule at the top of the list", entity=RolePermission, element="uuid"),
        Param("ruleid", "uuid", description="Role permission rule id", entity=RolePermission,
              since="4.11"),
        Param("permission", description="Rule permission, can be: allow or deny",
              since="4.11"),
    ],
    authorized=ROOT_ONLY,
    since="4.9.0",
    event=UPDATE_PERMISSION,
)
def update_role_permission(ctx: CallContext, p: Params) -> SuccessResult:
    role = visible_role(ctx, p["roleid"])
    if role is None:
        raise ParamError("Invalid role id provided")
    order: list[RolePermission] | None = p["ruleorder"]
    if order is not None:
        if p["ruleid"] is not None or _rule_permission(p["permission"]) is not None:
            raise ParamError("Parameters permission and ruleid must be mutually exclusive with "
                             "ruleorder")
        check_caller(ctx)
        if role.is_default:
            raise PermissionDenied("Role permission cannot be updated for Default roles")
        ok = _reorder(ctx, role, order)
        _event(ctx, UPDATE_PERMISSION, f"Reordering permissions for role id: {role.id}",
               role, "Role")
        return SuccessResult(ok)
    # The ruleid/permission variant records no ActionEvent in CloudStack.
    ctx.event_details["skip"] = True
    permission = _rule_permission(p["permission"])
    rule: RolePermission | None = p["ruleid"]
    if rule is None or permission is None:
        return SuccessResult(False)
    check_caller(ctx)
    if role.is_default:
        raise PermissionDenied("Role permission cannot be updated for Default roles")
    if rule.role_id != role.id:
        return SuccessResult(False)
    rule.permission = permission
    return SuccessResult()


def _rule_permission(value: str | None) -> str | None:
    if value is None:
        return None
    if value.upper() not in ("ALLOW", "DENY"):
        raise ParamError("Values for permission parameter should be: allow or deny")
    return value.upper()


def _reorder(ctx: CallContext, role: Role, order: list[RolePermission]) -> bool:
    """RolePermissionsDaoImpl.update: the new order must name exactly the role's rules."""
    if not order:
        return False
    current = list(ctx.db.scalars(select(RolePermission).where(
        RolePermission.role_id == role.id)))
    if len(order) != len(current) or {r.id for r in order} != {r.id for r in current}:
        raise CloudRuntimeError("The role's rule permissions list has changed while you were "
                                "making updates, aborted re-ordering of rules. Please try "
                                "again.")
    for position, rule in enumerate(order):
        rule.sort_order = position
    return True


@command(
    "deleteRolePermission",
    description="Deletes a role permission",
    params=[Param("id", "uuid", True, "ID of the role permission", entity=RolePermission)],
    authorized=ROOT_ONLY,
    since="4.9.0",
    event=DELETE_PERMISSION,
)
def delete_role_permission(ctx: CallContext, p: Params) -> SuccessResult:
    perm: RolePermission = p["id"]
    check_caller(ctx)
    role = ctx.db.get(Role, perm.role_id)
    if role is not None and role.is_default:
        raise PermissionDenied("Role permission cannot be deleted for Default roles")
    _event(ctx, DELETE_PERMISSION, f"Role permission id: {perm.id}", perm, "RolePermission")
    ctx.db.delete(perm)
    return SuccessResult()

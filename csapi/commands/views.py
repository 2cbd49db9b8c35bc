"""Response objects shared by several command families (domain, account, user) and the
functions that fill them from rows. Field order is CloudStack's wire order (UserResponse,
AccountResponse, DomainResponse)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from csapi import settings
from csapi.api.registry import Field, ResponseObject, obj
from csapi.db.models import (
    Account,
    AccountDetail,
    Domain,
    DomainDetail,
    Project,
    ProjectAccount,
    Role,
    User,
)

UNLIMITED = "Unlimited"
ALL_DETAILS = frozenset({"all"})


def domain_path(domain: Domain) -> str:
    """API form of a domain path: `/` -> `ROOT`, `/a/b/` -> `ROOT/a/b`."""
    return "ROOT" + domain.path.rstrip("/") if domain.path != "/" else "ROOT"


def api_key_access_name(flag: bool | None) -> str:
    """ApiConstants.ApiKeyAccess as shown in responses."""
    return {True: "Enabled", False: "Disabled"}.get(flag, "Inherit")  # type: ignore[arg-type]


# --- resource limits ----------------------------------------------------------------------
# (field prefix, account setting, account default, domain setting, domain default): the
# global defaults a fresh account or sub-domain gets (ResourceLimitManagerImpl); ROOT and
# root-admin accounts are unlimited. Totals are 0: nothing in csapi consumes resources.
_LIMITS = {
    "vm": ("max.account.user.vms", 20, "max.domain.user.vms", 40),
    "ip": ("max.account.public.ips", 20, "max.domain.public.ips", 40),
    "volume": ("max.account.volumes", 20, "max.domain.volumes", 40),
    "snapshot": ("max.account.snapshots", 20, "max.domain.snapshots", 40),
    "template": ("max.account.templates", 20, "max.domain.templates", 40),
    "project": ("max.account.projects", 10, "max.domain.projects", 50),
    "network": ("max.account.networks", 20, "max.domain.networks", 40),
    "vpc": ("max.account.vpcs", 20, "max.domain.vpcs", 40),
    "cpu": ("max.account.cpus", 40, "max.domain.cpus", 80),
    "memory": ("max.account.memory", 40960, "max.domain.memory", 81920),
    "primarystorage": ("max.account.primary.storage", 200, "max.domain.primary.storage", 400),
    "secondarystorage": ("max.account.secondary.storage", 400,
                         "max.domain.secondary.storage", 800),
}
_ACCOUNT_ORDER = ("vm", "ip", "volume", "snapshot", "template", "*vmstate", "project",
                  "network", "vpc", "cpu", "memory", "primarystorage", "secondarystorage")
_DOMAIN_ORDER = ("vm", "ip", "volume", "snapshot", "vmsnapshot", "template", "project",
                 "network", "vpc", "cpu", "memory", "primarystorage", "secondarystorage")
_WHAT = {
    "vm": "Instances", "ip": "public IP addresses", "volume": "volumes",
    "snapshot": "Snapshots", "vmsnapshot": "VM snapshots", "template": "Templates",
    "project": "projects", "network": "Networks", "vpc": "VPCs", "cpu": "CPU cores",
    "memory": "memory (in MiB)", "primarystorage": "primary storage space (in GiB)",
    "secondarystorage": "secondary storage space (in GiB)",
}


def _limit_fields(owner: str, order: Iterable[str]) -> tuple[Field, ...]:
    fields: list[Field] = []
    for prefix in order:
        if prefix == "*vmstate":
            fields += [Field("vmstopped", "integer", "the total number of Instances stopped "
                             f"for this {owner}"),
                       Field("vmrunning", "integer", "the total number of Instances running "
                             f"for this {owner}")]
            continue
        what = _WHAT[prefix]
        total_type = "float" if prefix == "secondarystorage" else "long"
        fields += [
            Field(f"{prefix}limit", "string", f"the total {what} the {owner} can own"),
            Field(f"{prefix}total", total_type, f"the total {what} owned by the {owner}"),
            Field(f"{prefix}available", "string", f"the total {what} available for the "
                  f"{owner} to acquire"),
        ]
    return tuple(fields)


def _configured(db: Session, name: str, default: int) -> int:
    # Read the global setting when someone declared it; otherwise CloudStack's default.
    if settings.resolve(name) is None:
        return default
    try:
        return int(settings.value(db, name))
    except (TypeError, ValueError):
        return default


def _limit_values(prefix: str, limit: int | None, total: int) -> dict[str, Any]:
    """limit/total/available as CloudStack renders them: limits and available as strings
    ("Unlimited" for no limit), totals as numbers, secondary storage as a float."""
    if prefix == "secondarystorage":
        total_value: Any = float(total)
        available = UNLIMITED if limit is None else str(float(limit) - total_value)
    else:
        total_value = total
        available = UNLIMITED if limit is None else str(limit - total)
    return {f"{prefix}limit": UNLIMITED if limit is None else str(limit),
            f"{prefix}total": total_value, f"{prefix}available": available}


def account_limits(db: Session, account: Account) -> dict[str, Any]:
    unlimited = account.type == 1
    out: dict[str, Any] = {}
    for prefix in _ACCOUNT_ORDER:
        if prefix == "*vmstate":
            out.update(vmstopped=0, vmrunning=0)
            continue
        name, default, _, _ = _LIMITS[prefix]
        limit = None if unlimited else _configured(db, name, default)
        total = _administered_projects(db, account.id) if prefix == "project" else 0
        out.update(_limit_values(prefix, limit, total))
    return out


def domain_limits(db: Session, domain: Domain) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prefix in _DOMAIN_ORDER:
        if prefix == "vmsnapshot":
            continue  # declared by DomainResponse, never filled by CloudStack
        _, _, name, default = _LIMITS[prefix]
        limit = None if domain.parent is None else _configured(db, name, default)
        total = _domain_projects(db, domain) if prefix == "project" else 0
        out.update(_limit_values(prefix, limit, total))
    return out


def _administered_projects(db: Session, account_id: int) -> int:
    return int(db.scalar(
        select(func.count()).select_from(ProjectAccount)
        .join(Project, Project.id == ProjectAccount.project_id)
        .where(ProjectAccount.account_id == account_id, ProjectAccount.account_role == "Admin",
               Project.removed.is_(None))
    ) or 0)


def _domain_projects(db: Session, domain: Domain) -> int:
    return int(db.scalar(
        select(func.count()).select_from(Project).join(Domain, Domain.id == Project.domain_id)
        .where(Project.removed.is_(None), Domain.path.startswith(domain.path, autoescape=True))
    ) or 0)


# --- objects --------------------------------------------------------------------------------

USER = obj(
    "user",
    ("id", "string", "the user ID"),
    ("username", "string", "the user name"),
    ("firstname", "string", "the user firstname"),
    ("lastname", "string", "the user lastname"),
    ("email", "string", "the user email address"),
    ("created", "date", "the date and time the user account was created"),
    ("state", "string", "the user state"),
    ("account", "string", "the account name of the user"),
    ("accounttype", "integer", "the account type of the user"),
    ("usersource", "string", "the source type of the user in lowercase, such as native, ldap, "
     "saml2"),
    ("roleid", "string", "the ID of the role"),
    ("roletype", "string", "the type of the role"),
    ("rolename", "string", "the name of the role"),
    ("domainid", "string", "the domain ID of the user"),
    ("domain", "string", "the domain name of the user"),
    ("timezone", "string", "the timezone user was created in"),
    ("apikey", "string", "the api key of the user"),
    ("accountid", "string", "the account ID of the user"),
    ("iscallerchilddomain", "boolean", "the boolean value representing if the updating target "
     "is in caller's child domain"),
    ("isdefault", "boolean", "true if user is default, false otherwise"),
    ("is2faenabled", "boolean", "true if user has two factor authentication enabled"),
    ("is2famandated", "boolean", "true if user has two factor authentication is mandated"),
    ("apikeyaccess", "string", "whether api key access is Enabled, Disabled or set to Inherit "
     "(it inherits the value from the parent)"),
)

ACCOUNT = ResponseObject("account", (
    Field("id", "string", "the id of the account"),
    Field("name", "string", "the name of the account"),
    Field("accounttype", "integer", "account type (admin, domain-admin, user)"),
    Field("roleid", "string", "the ID of the role"),
    Field("roletype", "string", "the type of the role (Admin, ResourceAdmin, DomainAdmin, "
          "User)"),
    Field("rolename", "string", "the name of the role"),
    Field("domainid", "string", "id of the Domain the account belongs to"),
    Field("domain", "string", "name of the Domain the account belongs to"),
    Field("domainpath", "string", "path of the Domain the account belongs to"),
    Field("defaultzoneid", "string", "the default zone of the account"),
    Field("receivedbytes", "long", "the total number of network traffic bytes received"),
    Field("sentbytes", "long", "the total number of network traffic bytes sent"),
    *_limit_fields("account", _ACCOUNT_ORDER),
    Field("state", "string", "the state of the account"),
    Field("iscleanuprequired", "boolean", "true if the account requires cleanup"),
    Field("created", "date", "the date when this account was created"),
    Field("user", "list", "the list of users associated with account", USER),
    Field("networkdomain", "string", "the network domain"),
    Field("accountdetails", "map", "details for the account"),
    Field("isdefault", "boolean", "true if account is default, false otherwise"),
    Field("apikeyaccess", "string", "whether api key access is Enabled, Disabled or set to "
          "Inherit (it inherits the value from the parent)"),
))

DOMAIN = ResponseObject("domain", (
    Field("id", "string", "the ID of the domain"),
    Field("name", "string", "the name of the domain"),
    Field("level", "integer", "the level of the domain"),
    Field("parentdomainid", "string", "the domain ID of the parent domain"),
    Field("parentdomainname", "string", "the domain name of the parent domain"),
    Field("haschild", "boolean", "whether the domain has one or more sub-domains"),
    Field("networkdomain", "string", "the network domain"),
    Field("path", "string", "the path of the domain"),
    Field("state", "string", "the state of the domain"),
    Field("created", "date", "the date when this domain was created"),
    *_limit_fields("domain", _DOMAIN_ORDER),
    Field("domaindetails", "map", "details for the domain"),
    Field("hasannotations", "boolean", "whether the entity has annotations"),
))


def _role(db: Session, account: Account) -> Role | None:
    return db.get(Role, account.role_id) if account.role_id else None


def user_view(db: Session, user: User, account: Account | None = None,
              caller_domain: Domain | None = None, *, full: bool = False) -> dict[str, Any]:
    """`caller_domain` fills `iscallerchilddomain` (strict sub-domains of the caller's);
    `full` adds what only a root admin sees (`apikeyaccess`)."""
    account = account or db.get(Account, user.account_id)
    assert account is not None
    domain = db.get(Domain, account.domain_id)
    role = _role(db, account)
    assert domain is not None
    return {
        "id": user.uuid, "username": user.username, "firstname": user.firstname,
        "lastname": user.lastname, "email": user.email, "created": user.created,
        "state": user.state, "account": account.account_name, "accounttype": account.type,
        "usersource": user.source or "native",
        "roleid": role.uuid if role else None, "roletype": role.role_type if role else None,
        "rolename": role.name if role else None,
        "domainid": domain.uuid, "domain": domain.name, "timezone": user.timezone,
        "apikey": user.api_key, "accountid": account.uuid,
        "iscallerchilddomain": bool(caller_domain and domain.id != caller_domain.id
                                    and domain.path.startswith(caller_domain.path)),
        "isdefault": bool(user.is_default), "is2faenabled": False, "is2famandated": False,
        "apikeyaccess": api_key_access_name(user.api_key_access) if full else None,
    }


def _details(db: Session, model: Any, owner_col: Any, owner_id: int) -> dict[str, str] | None:
    rows = db.scalars(select(model).where(owner_col == owner_id).order_by(model.id))
    found = {row.name: row.value for row in rows}
    return found or None


def account_view(db: Session, account: Account, *, details: Iterable[str] = ALL_DETAILS,
                 full: bool = False) -> dict[str, Any]:
    """AccountResponse. `details`: CloudStack's `details` list (all/resource/min): limits
    are shown unless only `min` is asked for; `full`: the root admin's view."""
    domain = db.get(Domain, account.domain_id)
    role = _role(db, account)
    assert domain is not None
    users = db.scalars(select(User).where(User.account_id == account.id,
                                          User.removed.is_(None)).order_by(User.id))
    out: dict[str, Any] = {
        "id": account.uuid, "name": account.account_name, "accounttype": account.type,
        "roleid": role.uuid if role else None, "roletype": role.role_type if role else None,
        "rolename": role.name if role else None,
        "domainid": domain.uuid, "domain": domain.name, "domainpath": domain_path(domain),
    }
    if {"all", "resource"} & set(details):
        out.update(account_limits(db, account))
    out.update({
        "state": account.state, "iscleanuprequired": bool(account.cleanup_needed),
        "created": account.created, "user": [user_view(db, u, account) for u in users],
        "networkdomain": account.network_domain,
        "accountdetails": _details(db, AccountDetail, AccountDetail.account_id, account.id),
        "isdefault": bool(account.default),
        "apikeyaccess": api_key_access_name(account.api_key_access) if full else None,
    })
    return out


def domain_view(db: Session, domain: Domain, *,
                details: Iterable[str] = ALL_DETAILS) -> dict[str, Any]:
    parent = db.get(Domain, domain.parent) if domain.parent else None
    has_child = db.scalar(select(Domain.id).where(
        Domain.parent == domain.id, Domain.removed.is_(None)).limit(1)) is not None
    out: dict[str, Any] = {
        "id": domain.uuid, "name": domain.name, "level": domain.level,
        "parentdomainid": parent.uuid if parent else None,
        "parentdomainname": parent.name if parent else None,
        "haschild": has_child, "networkdomain": domain.network_domain,
        "path": domain_path(domain), "state": domain.state.strip(),
        "created": domain.created,
    }
    if {"all", "resource"} & set(details):
        out.update(domain_limits(db, domain))
    out["domaindetails"] = _details(db, DomainDetail, DomainDetail.domain_id, domain.id)
    out["hasannotations"] = False
    return out

"""Domains: createDomain, listDomains, listDomainChildren, updateDomain, deleteDomain
(DomainManagerImpl; tenancy spec §1)."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from sqlalchemy import func, select

from csapi.api.acl import check_domain_access
from csapi.api.context import CallContext
from csapi.api.errors import (
    CS_INVALID_PARAMETER,
    PARAM_ERROR,
    ApiError,
    CloudRuntimeError,
    InvalidParameterValue,
    PermissionDenied,
    too_long,
)
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ADMINS,
    EventSpec,
    Kind,
    ListResult,
    Param,
    SuccessResult,
    command,
)
from csapi.commands import tenancy
from csapi.commands.views import DOMAIN, domain_view
from csapi.db.models import Account, Domain

DETAILS_VALUES = ("all", "resource", "min")
LISTALL_TEXT = ("If set to false, list only resources belonging to the command's caller; if "
                "set to true - list resources that the caller is authorized to see. Default "
                "value is false")
DOMAIN_NETWORK_TEXT = (
    "Invalid network domain. Total length should not exceed 190 chars. Each domain label must "
    "be between 1 and 63 characters long. It can contain ASCII letters 'a' through 'z', the "
    "digits '0' through '9', and the hyphen ('-'); it cannot start or end with \"-\"."
)
PATH_LENGTH, UUID_LENGTH = 255, 40  # domain.path, domain.uuid


def details_param(values: list[str] | None) -> frozenset[str]:
    """The `details` list of listDomains/listAccounts (DomainDetails enum, case-sensitive)."""
    if not values:
        return frozenset({"all"})
    if any(v not in DETAILS_VALUES for v in values):
        raise InvalidParameterValue("The details parameter contains a non permitted value. The "
                                    "allowed values are [all, resource, min]")
    return frozenset(values)


def _sibling_named(ctx: CallContext, name: str, parent_id: int | None) -> list[Domain]:
    # Names compare as MySQL's default collation does (case-insensitively) on every backend.
    return list(ctx.db.scalars(select(Domain).where(
        func.lower(Domain.name) == name.lower(), Domain.parent == parent_id,
        Domain.removed.is_(None))))


def _domain_event(ctx: CallContext, domain: Domain) -> None:
    ctx.event_details.update(resource_type="Domain", resource_id=domain.id,
                             resource_uuid=domain.uuid)


@command(
    "createDomain",
    description="Creates a domain",
    params=[
        Param("name", required=True, description="creates domain with this name"),
        Param("parentdomainid", "uuid", description="assigns new domain a parent domain by "
              "domain ID of the parent.  If no parent domain is specified, the ROOT domain is "
              "assumed.", entity=Domain, related="listDomains"),
        Param("networkdomain", description="Network domain for networks in the domain"),
        Param("domainid", description="Domain UUID, required for adding domain from another "
              "Region"),
    ],
    response=DOMAIN,
    authorized=ADMINS,
    event=EventSpec("DOMAIN.CREATE", "creating Domain"),
)
def create_domain(ctx: CallContext, p: Params) -> dict[str, Any]:
    name: str = p["name"]
    given: Domain | None = p["parentdomainid"]
    parent = given or ctx.db.get(Domain, tenancy.ROOT_DOMAIN_ID)
    assert parent is not None
    detail = f"Domain Name: {name}" + (f", Parent DomainId :{given.id}" if given else "")
    ctx.event_details["completed"] = f"Successfully completed creating Domain. {detail}"
    if parent.removed is not None:
        raise InvalidParameterValue(f"Unable to create domain {name}, parent domain "
                                    f"{parent.id} not found.")
    if parent.state.strip() == "Inactive":
        raise CloudRuntimeError(f"The domain cannot be created as the parent domain "
                                f"{parent.name} is being deleted")
    check_domain_access(ctx, parent)
    if p["networkdomain"] is not None and not tenancy.valid_network_domain(p["networkdomain"]):
        raise InvalidParameterValue(DOMAIN_NETWORK_TEXT)
    if _sibling_named(ctx, name, parent.id):
        raise InvalidParameterValue(f"Domain with name [{name}] already exists for the parent "
                                    f"with ID [{parent.id}].")
    # domain.path and domain.uuid are narrower than the parameters: refuse what would not fit
    # rather than fail the INSERT on MySQL/MariaDB.
    if len(f"{parent.path}{name}/") > PATH_LENGTH:
        raise too_long("createDomain", PATH_LENGTH - len(parent.path) - 1, "name")
    forced = (p["domainid"] or "").strip()
    if len(forced) > UUID_LENGTH:
        raise too_long("createDomain", UUID_LENGTH, "domainid")
    if forced and ctx.db.scalar(select(Domain.id).where(Domain.uuid == forced)) is not None:
        # CloudStack fails on the database's duplicate key; we say what is wrong.
        raise InvalidParameterValue(f"A domain with the UUID {forced} already exists")
    domain = Domain(
        uuid=forced or str(uuidlib.uuid4()), parent=parent.id, name=name,
        owner=ctx.account.id, path=f"{parent.path}{name}/", level=parent.level + 1,
        child_count=0, next_child_seq=1, state="Active",
        network_domain=p["networkdomain"] or None, created=tenancy.now(),
    )
    ctx.db.add(domain)
    parent.child_count = (parent.child_count or 0) + 1
    parent.next_child_seq = (parent.next_child_seq or 1) + 1
    ctx.db.flush()
    _domain_event(ctx, domain)
    return domain_view(ctx.db, domain)


@command(
    "listDomains",
    description="Lists domains and provides detailed information for listed domains",
    params=[
        Param("id", "uuid", description="List domain by domain ID.", entity=Domain),
        Param("level", "integer", description="List domains by domain level."),
        Param("name", description="List domain by domain name."),
        Param("listall", "boolean", description=LISTALL_TEXT),
        Param("details", "list", description="comma separated list of domain details "
              "requested, value can be a list of [ all, resource, min]"),
        Param("showicon", "boolean", description="flag to display the resource icon for "
              "domains", since="4.16.0.0"),
    ],
    response=DOMAIN,
    kind=Kind.LIST,
)
def list_domains(ctx: CallContext, p: Params) -> ListResult:
    details = details_param(p["details"])
    stmt = select(Domain).where(Domain.removed.is_(None), Domain.state == "Active")
    if p["id"] is not None:
        domain: Domain = p["id"]
        if domain.removed is not None:
            raise InvalidParameterValue(f"Domain id={domain.id} doesn't exist")
        check_domain_access(ctx, domain)
        stmt = stmt.where(Domain.id == domain.id)
    elif not ctx.is_root_admin:
        # Non-root callers are pinned to their own domain; listall widens it to the subtree.
        if p["listall"]:
            stmt = stmt.where(Domain.path.startswith(ctx.domain.path, autoescape=True))
        else:
            stmt = stmt.where(Domain.id == ctx.domain.id)
    if p["level"] is not None:
        stmt = stmt.where(Domain.level == p["level"])
    if p["name"] is not None:
        stmt = stmt.where(Domain.name == p["name"])
    if p["keyword"]:
        stmt = stmt.where(Domain.name.like(f"%{p['keyword']}%"))
    return page_query(ctx, p, stmt.order_by(Domain.id),
                      lambda d: domain_view(ctx.db, d, details=details))


@command(
    "listDomainChildren",
    description="Lists all children domains belonging to a specified domain",
    params=[
        Param("id", "uuid", description="list children domain by parent domain ID.",
              entity=Domain, related="listDomains"),
        Param("name", description="list children domains by name"),
        Param("isrecursive", "boolean", description="to return the entire tree, use the value "
              "\"true\". To return the first level children, use the value \"false\"."),
        Param("listall", "boolean", description=LISTALL_TEXT),
        Param("showicon", "boolean", description="flag to display the resource icon for "
              "domains", since="4.16.0.0"),
    ],
    response=DOMAIN,
    kind=Kind.LIST,
)
def list_domain_children(ctx: CallContext, p: Params) -> ListResult:
    parent: Domain = p["id"] or ctx.domain
    if p["id"] is not None:
        if parent.removed is not None:
            raise InvalidParameterValue(f"Domain id={parent.id} doesn't exist")
        check_domain_access(ctx, parent)
    stmt = select(Domain).where(Domain.removed.is_(None), Domain.state == "Active")
    if p["isrecursive"] and not p["listall"]:
        stmt = stmt.where(Domain.path.startswith(parent.path, autoescape=True),
                          Domain.path != parent.path)
    else:
        stmt = stmt.where(Domain.parent == parent.id)
    if p["name"] is not None:
        stmt = stmt.where(Domain.name.like(f"%{p['name']}%"))
    if p["keyword"]:
        stmt = stmt.where(Domain.name.like(f"%{p['keyword']}%"))
    return page_query(ctx, p, stmt.order_by(Domain.id), lambda d: domain_view(ctx.db, d))


@command(
    "updateDomain",
    description="Updates a domain with a new name",
    params=[
        Param("id", "uuid", True, "ID of domain to update", entity=Domain,
              related="listDomains"),
        Param("name", description="updates domain with this name"),
        Param("networkdomain", description="Network domain for the domain's networks; empty "
              "string will update domainName with NULL value"),
    ],
    response=DOMAIN,
    event=EventSpec("DOMAIN.UPDATE", "updating Domain"),
)
def update_domain(ctx: CallContext, p: Params) -> dict[str, Any]:
    domain: Domain = p["id"]
    name: str | None = p["name"]
    ctx.event_details["completed"] = ("Successfully completed updating Domain. Domain Id: "
                                      f"{domain.id}")
    _domain_event(ctx, domain)
    if domain.removed is not None:
        raise ApiError(PARAM_ERROR, "Unable to find domain with specified domain id",
                       CS_INVALID_PARAMETER,
                       uuids=[{"uuid": str(domain.id), "description": "domainId"}])
    if domain.parent is None and name is not None:
        raise InvalidParameterValue("ROOT domain can not be edited with a new name")
    check_domain_access(ctx, domain)
    if name is not None and any(d.id != domain.id
                                for d in _sibling_named(ctx, name, domain.parent)):
        raise ApiError(PARAM_ERROR, f"Failed to update specified domain id with name '{name}' "
                       "since it already exists in the system", CS_INVALID_PARAMETER,
                       uuids=[{"uuid": domain.uuid or "", "description": "domainId"}])
    network = p["networkdomain"]
    if network and not tenancy.valid_network_domain(network):
        raise InvalidParameterValue(tenancy.NETWORK_DOMAIN_TEXT)
    if name is not None:
        rename(ctx, domain, name)
    if network is not None:
        domain.network_domain = network or None
    ctx.db.flush()
    return domain_view(ctx.db, domain)


def rename(ctx: CallContext, domain: Domain, name: str) -> None:
    """The domain's path ends in its new name; every descendant's path follows."""
    old = domain.path
    new = old[: old.rstrip("/").rfind("/") + 1] + name + "/"
    descendants = list(ctx.db.scalars(select(Domain).where(
        Domain.path.startswith(old, autoescape=True), Domain.id != domain.id,
        Domain.removed.is_(None))))
    longest = max([len(old)] + [len(child.path) for child in descendants])
    if longest - len(old) + len(new) > PATH_LENGTH:
        raise too_long("updateDomain", PATH_LENGTH - (longest - len(old)) - (len(new) - len(name)),
                       "name")
    for child in descendants:
        child.path = new + child.path[len(old):]
    domain.name = name
    domain.path = new


def _deletion_target(ctx: CallContext, p: Params) -> Domain:
    """Runs when deleteDomain is submitted: the job's instance and its event texts."""
    domain: Domain = p["id"]
    owner = ctx.db.get(Account, domain.owner) or ctx.db.get(Account, tenancy.SYSTEM_ACCOUNT_ID)
    detail = f"Domain Id: {domain.id}"
    ctx.event_details.update(
        description=f"Deleting domain with ID: {domain.uuid}", account=owner,
        started=f"Deleting Domain. {detail}",
        completed=f"Successfully completed deleting Domain. {detail}",
        failed=f"Error while deleting Domain. {detail}",
    )
    _domain_event(ctx, domain)
    return domain


@command(
    "deleteDomain",
    description="Deletes a specified domain",
    params=[
        Param("id", "uuid", True, "ID of domain to delete", entity=Domain,
              related="listDomains"),
        Param("cleanup", "boolean", description="True if all domain resources (child domains, "
              "accounts) have to be cleaned up, false otherwise"),
    ],
    response=None,
    kind=Kind.ASYNC,
    authorized=ADMINS,
    event=EventSpec("DOMAIN.DELETE", "deleting Domain"),
    instance_type="Domain",
    create=_deletion_target,
)
def delete_domain(ctx: CallContext, p: Params) -> SuccessResult:
    domain: Domain = p["id"]
    db = ctx.db
    if domain.removed is not None:
        raise InvalidParameterValue(f"Failed to delete domain {domain.id}, domain not found")
    if domain.id == tenancy.ROOT_DOMAIN_ID:
        raise PermissionDenied("Can't delete ROOT domain")
    check_domain_access(ctx, domain)
    # Inactive first, so nothing new is created in it; any failure rolls the whole job back.
    domain.state = "Inactive"
    db.flush()
    if p["cleanup"]:
        tenancy.cleanup_domain(db, domain)
        return SuccessResult()
    pending = tenancy.accounts_needing_cleanup(db, domain)
    if pending:
        raise CloudRuntimeError(f"Can't delete the domain yet because it has {pending} "
                                "accounts to cleanup")
    if tenancy.has_live_children(db, domain):
        raise CloudRuntimeError(f"Delete failed on domain {domain.name} (id: {domain.id}); "
                                "Please make sure all users and sub domains have been removed "
                                "from the domain before deleting")
    tenancy.remove_domain_row(db, domain)
    return SuccessResult()


"""listEvents, listEventTypes, archiveEvents, deleteEvents.

After CloudStack's QueryManagerImpl.searchForEventIdsAndCount, EventJoinDaoImpl
.newEventResponse and ManagementServerImpl.archiveEvents/deleteEvents. Visibility is the shared
list ACL (csapi.api.acl.visibility); archive/delete reach the caller's own events (users) or
the events of the caller's domain subtree (admins).
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, false, or_, select, true, update
from sqlalchemy.orm import Session, aliased

from csapi.api.acl import check_account_access, visibility
from csapi.api.context import TYPE_ADMIN, TYPE_PROJECT, CallContext
from csapi.api.errors import InvalidParameterValue, ServerError
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ACL_LIST_PARAMS,
    ALL_ROLES,
    PROJECT_PARAM,
    REGISTRY,
    Kind,
    ListResult,
    Param,
    SuccessResult,
    command,
    obj,
)
from csapi.commands.views import domain_path
from csapi.db.models import (
    Account,
    DataCenter,
    Domain,
    Event,
    Project,
    Role,
    SSHKeyPair,
    User,
    Webhook,
    WebhookDelivery,
    WebhookDispatchEvent,
    WebhookDispatchJob,
)

EVENT = obj(
    "event",
    ("id", "string", "the ID of the event"),
    ("username", "string", "the name of the user who performed the action (can be different "
     "from the account if an admin is performing an action for a user, e.g. starting/stopping "
     "a user's virtual machine)"),
    ("type", "string", "the type of the event (see event types)"),
    ("level", "string", "the event level (INFO, WARN, ERROR)"),
    ("description", "string", "a brief description of the event"),
    ("account", "string", "the account name for the account that owns the object being acted "
     "on in the event (e.g. the owner of the virtual machine, ip address, or security group)"),
    ("projectid", "string", "the project id of the ipaddress"),
    ("project", "string", "the project name of the address"),
    ("domainid", "string", "the id of the account's domain"),
    ("domain", "string", "the name of the account's domain"),
    ("domainpath", "string", "path of the Domain the account's domain belongs to"),
    ("resourceid", "string", "the ID of the resource"),
    ("resourcetype", "string", "the type of the resource"),
    ("resourcename", "string", "the name of the resource"),
    ("created", "date", "the date the event was created"),
    ("state", "string", "the state of the event"),
    ("parentid", "string", "whether the event is parented"),
    ("archived", "boolean", "whether the event has been archived or not"),
)
EVENT_TYPE = obj("eventtype", ("name", "string", "Event Type"))

# EventTypes.java (declaration order) for the families the protocol spec lists, then the
# webhook plugin's; listEventTypes adds every type a csapi command declares.
EVENT_TYPES: tuple[str, ...] = tuple(" ".join((
    "VM.CREATE VM.DESTROY VM.START VM.STOP VM.REBOOT VM.UPDATE VM.UPGRADE VM.DYNAMIC.SCALE",
    "VM.RESETPASSWORD VM.RESETSSHKEY VM.RESETUSERDATA VM.MIGRATE VM.MOVE VM.RESTORE VM.EXPUNGE",
    "VM.IMPORT VM.UNMANAGE VM.RECOVER",
    "NETWORK.CREATE NETWORK.DELETE NETWORK.UPDATE NETWORK.MIGRATE",
    "LB.ASSIGN.TO.RULE LB.REMOVE.FROM.RULE LB.CREATE LB.DELETE LB.STICKINESSPOLICY.CREATE",
    "LB.STICKINESSPOLICY.UPDATE LB.STICKINESSPOLICY.DELETE LB.HEALTHCHECKPOLICY.CREATE",
    "LB.HEALTHCHECKPOLICY.DELETE LB.HEALTHCHECKPOLICY.UPDATE LB.UPDATE LB.CERT.UPLOAD",
    "LB.CERT.DELETE LB.CERT.ASSIGN LB.CERT.REMOVE",
    "ROLE.CREATE ROLE.UPDATE ROLE.DELETE ROLE.IMPORT ROLE.ENABLE ROLE.DISABLE",
    "ROLE.PERMISSION.CREATE ROLE.PERMISSION.UPDATE ROLE.PERMISSION.DELETE",
    "ACCOUNT.ENABLE ACCOUNT.DISABLE ACCOUNT.CREATE ACCOUNT.DELETE ACCOUNT.UPDATE",
    "USER.LOGIN USER.LOGOUT USER.CREATE USER.DELETE USER.DISABLE USER.MOVE USER.UPDATE",
    "USER.ENABLE USER.LOCK REGISTER.SSH.KEYPAIR REGISTER.USER.KEY DELETE.USER.KEY",
    "API.KEY.ACCESS.UPDATE",
    "TEMPLATE.CREATE TEMPLATE.DELETE TEMPLATE.UPDATE TEMPLATE.DOWNLOAD.START",
    "TEMPLATE.DOWNLOAD.SUCCESS TEMPLATE.DOWNLOAD.FAILED TEMPLATE.COPY TEMPLATE.EXTRACT",
    "TEMPLATE.UPLOAD TEMPLATE.CLEANUP",
    "VOLUME.CREATE VOLUME.DELETE VOLUME.ATTACH VOLUME.CHECK VOLUME.DETACH VOLUME.EXTRACT",
    "VOLUME.UPLOAD VOLUME.MIGRATE VOLUME.RESIZE VOLUME.DETAIL.UPDATE VOLUME.DETAIL.ADD",
    "VOLUME.DETAIL.REMOVE VOLUME.UPDATE VOLUME.DESTROY VOLUME.RECOVER VOLUME.IMPORT",
    "VOLUME.UNMANAGE VOLUME.CHANGE.DISK.OFFERING",
    "DOMAIN.CREATE DOMAIN.DELETE DOMAIN.UPDATE DOMAIN.MOVE",
    "SNAPSHOT.COPY SNAPSHOT.CREATE SNAPSHOT.ON_PRIMARY SNAPSHOT.OFF_PRIMARY SNAPSHOT.DELETE",
    "SNAPSHOT.REVERT SNAPSHOT.EXTRACT SNAPSHOTPOLICY.CREATE SNAPSHOTPOLICY.UPDATE",
    "SNAPSHOTPOLICY.DELETE",
    "ISO.CREATE ISO.UPDATE ISO.DELETE ISO.COPY ISO.ATTACH ISO.DETACH ISO.EXTRACT ISO.UPLOAD",
    "ZONE.CREATE ZONE.EDIT ZONE.DELETE CONFIGURATION.VALUE.EDIT",
    "SG.AUTH.INGRESS SG.REVOKE.INGRESS SG.AUTH.EGRESS SG.REVOKE.EGRESS SG.CREATE SG.DELETE",
    "SG.ASSIGN SG.REMOVE SG.UPDATE NETWORK.RESTART",
    "PROJECT.CREATE PROJECT.UPDATE PROJECT.DELETE PROJECT.ACTIVATE PROJECT.SUSPEND",
    "PROJECT.ACCOUNT.ADD PROJECT.USER.ADD PROJECT.INVITATION.UPDATE PROJECT.INVITATION.REMOVE",
    "PROJECT.ACCOUNT.REMOVE PROJECT.USER.REMOVE",
    "VPC.CREATE VPC.UPDATE VPC.DELETE VPC.RESTART CREATE_TAGS DELETE_TAGS",
    "WEBHOOK.CREATE WEBHOOK.UPDATE WEBHOOK.DELETE",
)).split())

# The shared ACL parameters, with their UUIDs resolved to rows.
_ACL_PARAMS = (
    *(dataclasses.replace(p, entity=Domain) if p.name == "domainid" else p
      for p in ACL_LIST_PARAMS),
    dataclasses.replace(PROJECT_PARAM, entity=Project),
)

# ApiCommandResourceType names (case-sensitive, as EnumUtils.isValidEnum), plus the resource
# types csapi's own features record.
RESOURCE_TYPES = frozenset((
    "None", "VirtualMachine", "DomainRouter", "Volume", "ConsoleProxy", "Snapshot", "Backup",
    "Template", "Iso", "SystemVm", "Host", "StoragePool", "ImageStore", "IpAddress",
    "PortableIpAddress", "SecurityGroup", "PhysicalNetwork", "TrafficType",
    "PhysicalNetworkServiceProvider", "FirewallRule", "Account", "User", "PrivateGateway",
    "StaticRoute", "Counter", "Condition", "AutoScalePolicy", "AutoScaleVmProfile",
    "AutoScaleVmGroup", "GlobalLoadBalancerRule", "LoadBalancerRule", "AffinityGroup",
    "InternalLbVm", "DedicatedGuestVlanRange", "GuestOs", "GuestOsMapping", "Network",
    "NetworkAcl", "NetworkAclItem", "Project", "Domain", "DiskOffering", "ServiceOffering",
    "NetworkOffering", "VpcOffering", "BackupOffering", "Zone",
    "Webhook", "Role", "SSHKeyPair",
))
# Resource type -> (model, attribute holding its name) for the types csapi has tables for.
RESOURCE_MODELS: dict[str, tuple[Any, str]] = {
    "Account": (Account, "account_name"), "User": (User, "username"),
    "Domain": (Domain, "name"), "Project": (Project, "name"), "Zone": (DataCenter, "name"),
    "Webhook": (Webhook, "name"), "Role": (Role, "name"), "SSHKeyPair": (SSHKeyPair,
                                                                        "keypair_name"),
}


def _date_param(name: str, description: str) -> Param:
    return Param(name, "date", description=description + " (use format \"yyyy-MM-dd\" or the "
                 "new format \"yyyy-MM-dd HH:mm:ss\")")


def _bounds(p: Params) -> tuple[datetime | None, datetime | None]:
    """CloudStack's date parsing for event commands: a date without a time starts the day
    (startdate) or ends it (enddate)."""
    start, end = p["startdate"], p["enddate"]
    if end is not None and len(p.raw.get("enddate", "").strip()) <= len("yyyy-MM-dd"):
        end = end.replace(hour=23, minute=59, second=59)
    return start, end


class _Lookup:
    """Per-call caches so a page of events costs a handful of queries."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.rows: dict[tuple[Any, int], Any] = {}

    def get(self, model: Any, ident: int | None) -> Any:
        if ident is None:
            return None
        key = (model, ident)
        if key not in self.rows:
            self.rows[key] = self.db.get(model, ident)
        return self.rows[key]

    def project_of(self, account: Account) -> Project | None:
        return self.db.scalar(select(Project).where(
            Project.project_account_id == account.id)) if account.type == TYPE_PROJECT else None


def event_view(look: _Lookup, ev: Event) -> dict[str, Any]:
    user = look.get(User, ev.user_id)
    owner = look.get(Account, ev.account_id)
    domain = look.get(Domain, ev.domain_id)
    project = look.project_of(owner) if owner is not None else None
    parent = look.get(Event, ev.start_id) if ev.start_id else None
    resource_uuid = resource_name = None
    model = RESOURCE_MODELS.get(ev.resource_type or "")
    if model is not None and ev.resource_id is not None:
        row = look.get(model[0], ev.resource_id)
        if row is not None:
            resource_uuid, resource_name = row.uuid, getattr(row, model[1])
    return {
        "id": ev.uuid, "username": user.username if user else None, "type": ev.type,
        "level": ev.level, "description": ev.description,
        "account": owner.account_name if owner is not None and project is None else None,
        "projectid": project.uuid if project else None,
        "project": project.name if project else None,
        "domainid": domain.uuid if domain else None, "domain": domain.name if domain else None,
        "domainpath": domain_path(domain) if domain else None,
        "resourceid": resource_uuid, "resourcetype": ev.resource_type,
        "resourcename": resource_name, "created": ev.created, "state": ev.state,
        "parentid": parent.uuid if parent is not None else None,
        "archived": True if ev.archived else None,
    }


def _resource_filter(ctx: CallContext, p: Params) -> tuple[str | None, int | None]:
    rtype, rid = p["resourcetype"], p["resourceid"]
    if rtype is not None and rtype not in RESOURCE_TYPES:
        raise InvalidParameterValue("Invalid resourcetype")
    if rid is None:
        return rtype, None
    if rtype is None:
        raise InvalidParameterValue("resourceid parameter must be used with resourcetype "
                                    "parameter")
    try:
        uuidlib.UUID(rid)
    except ValueError:
        raise InvalidParameterValue("Invalid resourceid") from None
    model = RESOURCE_MODELS.get(rtype)
    row = ctx.db.scalar(select(model[0]).where(model[0].uuid == rid)) if model else None
    if row is None:
        raise InvalidParameterValue("Invalid resourceid")
    owner_id = getattr(row, "account_id", None) if model and model[0] is not User else None
    if not ctx.is_root_admin and owner_id is not None:
        owner = ctx.db.get(Account, owner_id)
        if owner is not None:
            check_account_access(ctx, owner)
    return rtype, row.id


def _pending(stmt: Select[Any], entrytime: int, duration: int) -> Select[Any]:
    """Events started between `entrytime` and `duration` seconds ago with no Completed event
    yet (ManagementServerImpl.listPendingEvents)."""
    if entrytime <= duration:
        raise InvalidParameterValue("Entry time must be greater than duration")
    clock = datetime.utcnow()
    done = aliased(Event)
    completed = select(done.id).where(done.start_id == Event.id, done.state == "Completed")
    return stmt.where(
        Event.state != "Completed", Event.start_id == 0,
        Event.created.between(clock - timedelta(seconds=entrytime),
                              clock - timedelta(seconds=duration)),
        ~completed.exists(),
    )


@command(
    "listEvents",
    description="A command to list events.",
    params=[
        *_ACL_PARAMS,
        Param("id", "uuid", description="the ID of the event", entity=Event,
              related="listEvents"),
        Param("duration", "integer", description="the duration of the event"),
        _date_param("enddate", "the end date range of the list you want to retrieve"),
        Param("entrytime", "integer", description="the time the event was entered"),
        Param("level", description="the event level (INFO, WARN, ERROR)"),
        _date_param("startdate", "the start date range of the list you want to retrieve"),
        Param("type", description="the event type (see event types)"),
        Param("startid", "uuid", description="the parent/start ID of the event, when provided "
              "this will list all the events with the start/parent ID including the parent "
              "event", entity=Event, related="listEvents"),
        Param("resourceid", description="the ID of the resource associated with the event",
              since="4.17.0"),
        Param("resourcetype", description="the type of the resource associated with the "
              "event", since="4.17.0"),
        Param("archived", "boolean", description="true to list archived events otherwise "
              "false", since="4.19.0"),
    ],
    response=EVENT,
    kind=Kind.LIST,
    authorized=ALL_ROLES,
)
def list_events(ctx: CallContext, p: Params) -> ListResult:
    rtype, rid = _resource_filter(ctx, p)
    vis = visibility(ctx, account=p["account"], domain=p["domainid"],
                     isrecursive=p["isrecursive"], listall=p["listall"], project=p["projectid"],
                     id_given=p["id"] is not None)
    stmt = vis.apply(select(Event), Event.account_id, Event.domain_id)
    if not ctx.is_root_admin:
        stmt = stmt.where(Event.display == true())
    if p["entrytime"] is not None and p["duration"] is not None:
        stmt = _pending(stmt, p["entrytime"], p["duration"])
    else:
        stmt = _filters(stmt, p, rtype, rid)
    stmt = stmt.order_by(Event.created.desc(), Event.id.desc())
    look = _Lookup(ctx.db)
    return page_query(ctx, p, stmt, lambda ev: event_view(look, ev))


def _filters(stmt: Select[Any], p: Params, rtype: str | None, rid: int | None) -> Select[Any]:
    if p["id"] is not None:
        stmt = stmt.where(Event.id == p["id"].id)
    else:
        stmt = stmt.where(Event.archived == (true() if p["archived"] else false()))
    if p["startid"] is not None:
        start = p["startid"].id
        stmt = stmt.where(or_(Event.id == start, Event.start_id == start))
    if p["keyword"] is not None:
        kw = p["keyword"]
        stmt = stmt.where(or_(Event.type.contains(kw, autoescape=True),
                              Event.description.contains(kw, autoescape=True),
                              Event.level.contains(kw, autoescape=True)))
    if p["level"] is not None:
        stmt = stmt.where(Event.level == p["level"])
    if p["type"] is not None:
        stmt = stmt.where(Event.type == p["type"])
    start_date, end_date = _bounds(p)
    if start_date is not None:
        stmt = stmt.where(Event.created >= start_date)
    if end_date is not None:
        stmt = stmt.where(Event.created <= end_date)
    if rid is not None:
        stmt = stmt.where(Event.resource_id == rid)
    if rtype is not None:
        stmt = stmt.where(Event.resource_type == rtype)
    return stmt


@command(
    "listEventTypes",
    description="List Event Types",
    response=EVENT_TYPE,
    authorized=ALL_ROLES,
)
def list_event_types(ctx: CallContext, p: Params) -> ListResult:
    names = list(EVENT_TYPES)
    seen = set(names)
    for cmd in sorted(REGISTRY.values(), key=lambda c: c.name):  # whatever csapi records
        if cmd.event is not None and cmd.event.type not in seen:
            seen.add(cmd.event.type)
            names.append(cmd.event.type)
    return ListResult([{"name": n} for n in names], len(names))


# --- archive / delete ------------------------------------------------------------------------

def _targets(ctx: CallContext, p: Params, verb: str) -> list[int]:
    """The ids of the events the call acts on, after CloudStack's checks and texts."""
    ids = p["ids"]
    if ids is None and p["type"] is None and p["enddate"] is None:
        raise InvalidParameterValue("either ids, type or enddate must be specified")
    if p["startdate"] is not None and p["enddate"] is None:
        raise InvalidParameterValue("enddate must be specified with startdate parameter")
    start, end = _bounds(p)
    if start is not None and end is not None and start > end:
        raise InvalidParameterValue("Please provide a valid start date and end date")
    stmt = select(Event.id).where(Event.archived == false())
    if ctx.is_normal_user or ctx.account.type == TYPE_PROJECT:
        stmt = stmt.where(Event.account_id == ctx.account.id)
    elif not ctx.is_root_admin:
        owners = select(Account.id).join(Domain, Domain.id == Account.domain_id).where(
            Domain.path.startswith(ctx.domain.path), Account.type != TYPE_ADMIN)
        stmt = stmt.where(Event.account_id.in_(owners))
    if ids is not None:
        stmt = stmt.where(Event.id.in_({e.id for e in ids}))
    if p["type"] is not None:
        stmt = stmt.where(Event.type == p["type"])
    if start is not None:
        stmt = stmt.where(Event.created >= start)
    if end is not None:
        stmt = stmt.where(Event.created <= end)
    found = list(ctx.db.scalars(stmt))
    if ids is not None and len(found) < len({e.id for e in ids}):
        raise ServerError(f"Unable to {verb} Events, one or more parameters has invalid values")
    return found


def _archive_params(verb: str) -> list[Param]:
    return [
        Param("ids", "list", description="the IDs of the events", entity=Event,
              element="uuid", related="listEvents"),
        Param("enddate", "date", description=f"end date range to {verb} events (including) "
              "this date (use format \"yyyy-MM-dd\" or the new format "
              "\"yyyy-MM-ddThh:mm:ss\")"),
        Param("startdate", "date", description=f"start date range to {verb} events "
              "(including) this date (use format \"yyyy-MM-dd\" or the new format "
              "\"yyyy-MM-ddThh:mm:ss\")"),
        Param("type", description=f"{verb} by event type"),
    ]


@command(
    "archiveEvents",
    description="Archive one or more events.",
    params=_archive_params("archive"),
    authorized=ALL_ROLES,
)
def archive_events(ctx: CallContext, p: Params) -> SuccessResult:
    for chunk in _chunks(_targets(ctx, p, "archive")):
        ctx.db.execute(update(Event).where(Event.id.in_(chunk)).values(archived=True))
    return SuccessResult()


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    """Bounded IN lists (SQLite limits bound parameters)."""
    return [ids[i:i + size] for i in range(0, len(ids), size)]


@command(
    "deleteEvents",
    description="Delete one or more events.",
    params=_archive_params("delete"),
    authorized=ALL_ROLES,
)
def delete_events(ctx: CallContext, p: Params) -> SuccessResult:
    for chunk in _chunks(_targets(ctx, p, "delete")):
        # Their deliveries and queued webhook work go with them, as ON DELETE CASCADE would
        # (explicitly, so it holds even where foreign keys are not enforced).
        for model in (WebhookDelivery, WebhookDispatchJob, WebhookDispatchEvent):
            ctx.db.execute(delete(model).where(model.event_id.in_(chunk)))
        ctx.db.execute(delete(Event).where(Event.id.in_(chunk)))
    return SuccessResult()

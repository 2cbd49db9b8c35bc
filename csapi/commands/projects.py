"""Projects (ProjectManagerImpl, QueryManagerImpl); members are in project_accounts.py.

A project owns resources through a hidden PROJECT-type account (type 5); its members are
`project_account` rows with the role Admin or Regular. Managing a project (AccessType
ModifyProject) takes a project Admin, a domain admin of its domain or the root admin.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from sqlalchemy import or_, select

from csapi import settings
from csapi.api.acl import (
    check_domain_access,
    domain_of,
    finalize_owner,
    project_membership,
)
from csapi.api.context import TYPE_PROJECT, CallContext
from csapi.api.errors import CloudRuntimeError, InvalidParameterValue, PermissionDenied, too_long
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ACL_LIST_PARAMS,
    EventSpec,
    Field,
    Kind,
    ListResult,
    Param,
    ResponseObject,
    SuccessResult,
    command,
)
from csapi.db.models import Account, Domain, Project, ProjectAccount, SSHKeyPair, User, Webhook
from csapi.seed import now

RESOURCE_TYPE = "Project"
ROLES = ("Admin", "Regular")
# Project limits: CloudStack's `max.project.*` defaults (no resources are ever consumed).
PROJECT_LIMITS = (
    ("network", 20), ("vpc", 20), ("cpu", 40), ("memory", 40960), ("primarystorage", 200),
    ("secondarystorage", 400), ("vm", 20), ("ip", 20), ("volume", 20), ("snapshot", 20),
    ("template", 20),
)

CREATE = EventSpec("PROJECT.CREATE", "creating project")
UPDATE = EventSpec("PROJECT.UPDATE", "updating project")
DELETE = EventSpec("PROJECT.DELETE", "deleting project")
ADD_ACCOUNT = EventSpec("PROJECT.ACCOUNT.ADD", "adding account to project")
REMOVE_ACCOUNT = EventSpec("PROJECT.ACCOUNT.REMOVE", "removing account from project")


def _limit_fields() -> tuple[Field, ...]:
    fields: list[Field] = []
    for prefix, _ in PROJECT_LIMITS:
        total = "float" if prefix == "secondarystorage" else "long"
        fields += [Field(f"{prefix}limit", "string", f"the total {prefix} the project can own"),
                   Field(f"{prefix}total", total, f"the total {prefix} owned by project"),
                   Field(f"{prefix}available", "string", f"the total {prefix} available to be "
                         "created for this project")]
    return tuple(fields)


PROJECT = ResponseObject("project", (
    Field("id", "string", "the id of the project"),
    Field("name", "string", "the name of the project"),
    Field("displaytext", "string", "the displaytext of the project"),
    Field("domainid", "string", "the domain id the project belongs to"),
    Field("domain", "string", "the domain name where the project belongs to"),
    Field("owner", "list", "the account name of the project's owners"),
    Field("projectaccountname", "string", "the project account name of the project"),
    Field("state", "string", "the state of the project"),
    Field("tags", "list", "the list of resource tags associated with vm"),
    *_limit_fields(),
    Field("vmstopped", "integer", "the total number of virtual machines stopped for this "
          "project"),
    Field("vmrunning", "integer", "the total number of virtual machines running for this "
          "project"),
    Field("created", "date", "the date this project was created"),
))
# --- views and lookups ------------------------------------------------------------------------

def project_view(db: Any, project: Project) -> dict[str, Any]:
    domain = db.get(Domain, project.domain_id)
    project_account = db.get(Account, project.project_account_id)
    owners = []
    for member, account in db.execute(
        select(ProjectAccount, Account).join(Account, Account.id == ProjectAccount.account_id)
        .where(ProjectAccount.project_id == project.id, ProjectAccount.account_role == "Admin")
        .order_by(ProjectAccount.id)
    ).all():
        owner = {"account": account.account_name}
        user = db.get(User, member.user_id) if member.user_id else None
        if user is not None:
            owner.update(user=user.username, userid=user.uuid)
        owners.append(owner)
    view: dict[str, Any] = {
        "id": project.uuid, "name": project.name, "displaytext": project.display_text,
        "domainid": domain.uuid, "domain": domain.name, "owner": owners,
        "projectaccountname": project_account.account_name if project_account else None,
        "state": project.state, "tags": [],
    }
    for prefix, limit in PROJECT_LIMITS:
        storage = prefix == "secondarystorage"
        view[f"{prefix}limit"] = str(limit)
        view[f"{prefix}total"] = 0.0 if storage else 0
        view[f"{prefix}available"] = str(float(limit)) if storage else str(limit)
    view.update(vmstopped=0, vmrunning=0, created=project.created)
    return view


def with_project_uuid(error: InvalidParameterValue, project: Project) -> InvalidParameterValue:
    error.uuids = [{"uuid": project.uuid or "", "description": "projectId"}]
    return error


def live_project(project: Project | int | None, text: str) -> Project:
    """Parameters resolve removed rows too; a removed project (or `projectid=-1`, which
    names none) is not found. `{id}` in the text is the id asked for."""
    if not isinstance(project, Project) or project.removed is not None:
        raise InvalidParameterValue(text.replace("{id}", str(getattr(project, "id", project))))
    return project


def check_modify(ctx: CallContext, project: Project) -> None:
    """AccessType.ModifyProject: root admin, domain admin of the project's domain, or a
    project Admin."""
    if ctx.is_root_admin:
        return
    if ctx.is_domain_admin:
        check_domain_access(ctx, domain_of(ctx.db, project.domain_id))
        return
    if project_membership(ctx.db, project.project_account_id, ctx.account.id) != "Admin":
        owner = ctx.db.get(Account, project.project_account_id)
        name = owner.account_name if owner else project.project_account_id
        raise PermissionDenied(f"Account {ctx.account.account_name} does not have permission "
                               f"to operate with resource account {name}")


def active_account(ctx: CallContext, name: str, domain_id: int) -> Account | None:
    return ctx.db.scalar(select(Account).where(
        Account.account_name == name, Account.domain_id == domain_id,
        Account.removed.is_(None), Account.type != TYPE_PROJECT))


def admins(ctx: CallContext, project: Project) -> list[ProjectAccount]:
    return list(ctx.db.scalars(select(ProjectAccount).where(
        ProjectAccount.project_id == project.id, ProjectAccount.account_role == "Admin")))


def member_row(ctx: CallContext, project: Project, account: Account) -> ProjectAccount | None:
    return ctx.db.scalar(select(ProjectAccount).where(
        ProjectAccount.project_id == project.id, ProjectAccount.account_id == account.id)
        .order_by(ProjectAccount.user_id.is_not(None), ProjectAccount.id))


def role_type(value: str | None, default: str | None) -> str | None:
    """ProjectAccount.Role from a parameter: Admin/Regular in any letter case."""
    if not value:
        return default
    name = value[:1].upper() + value[1:].lower()
    if name not in ROLES:
        raise InvalidParameterValue("Only Admin or Regular project role types are valid")
    return name


def set_resource(ctx: CallContext, project: Project) -> None:
    ctx.event_details.update(resource_type=RESOURCE_TYPE, resource_id=project.id,
                             resource_uuid=project.uuid)


def submitted(ctx: CallContext, project: Project, spec: EventSpec, scheduled: str,
              details: str) -> Project:
    """The submission phase of an async project command: CloudStack's Scheduled event carries
    the command's description, the manager's Started/Completed/Error events its annotation's
    description plus the command's event details."""
    set_resource(ctx, project)
    described = f"{spec.description}. {details}"
    ctx.event_details.update(
        description=scheduled, started=described[:1].upper() + described[1:],
        completed=f"Successfully completed {described}", failed=f"Error while {described}")
    return project


# --- createProject / listProjects -------------------------------------------------------------

def create_project_entity(ctx: CallContext, p: Params) -> Project:
    """The create phase of createProject, run in the request's transaction."""
    if ctx.is_normal_user and not settings.value(ctx.db, "allow.user.create.projects"):
        raise PermissionDenied("Regular user is not permitted to create a project")
    name, domain = p["name"], p["domainid"]
    if bool(p["account"]) != (domain is not None):
        raise InvalidParameterValue("Account name and domain id must be specified together")
    if p["userid"] is not None and p["accountid"] is None and domain is None:
        raise InvalidParameterValue("Domain ID and account ID must be provided with User ID")
    owner = finalize_owner(ctx, p["account"], domain) if p["account"] else ctx.account
    taken = ctx.db.scalar(select(Project.id).where(
        Project.name == name, Project.domain_id == owner.domain_id, Project.removed.is_(None)))
    if taken is not None:
        raise InvalidParameterValue(f"Project with name {name} already exists in domain "
                                    f"id={owner.domain_id}")
    user: User | None = p["userid"]
    if user is not None:
        if user.removed is not None:
            raise InvalidParameterValue("Invalid user ID provided")
        user_account = ctx.db.get(Account, user.account_id)
        if (user_account is None or p["accountid"] is None or user.account_id != p["accountid"].id
                or domain is None or user_account.domain_id != domain.id):
            raise InvalidParameterValue("User doesn't belong to the specified account or "
                                        "domain")
        owner = user_account
    created = now()
    # The hidden project account is named after the project and must fit account_name
    # (varchar 100): refused here rather than by a MySQL/MariaDB data error.
    account_name = f"PrjAcct-{name}-{owner.domain_id}"
    if len(account_name) > 100:
        raise too_long("createProject", 100 - len(account_name) + len(name), "name")
    account = Account(uuid=str(uuidlib.uuid4()), account_name=account_name, type=TYPE_PROJECT,
                      role_id=None, domain_id=owner.domain_id, state="enabled", created=created)
    ctx.db.add(account)
    ctx.db.flush()
    project = Project(uuid=str(uuidlib.uuid4()), name=name,
                      display_text=p["displaytext"] or name, project_account_id=account.id,
                      domain_id=owner.domain_id, state="Active", created=created)
    ctx.db.add(project)
    ctx.db.flush()
    ctx.db.add(ProjectAccount(account_id=owner.id, user_id=user.id if user else None,
                              account_role="Admin", project_account_id=account.id,
                              project_id=project.id, created=created))
    set_resource(ctx, project)
    ctx.event_details["created"] = ("Successfully created entity for creating project. "
                                    f"Project id={project.id}")
    return project


@command(
    "createProject",
    description="Creates a project",
    params=[
        Param("account", description="account who will be Admin for the project"),
        Param("domainid", "uuid", description="domain ID of the account owning a project",
              entity=Domain, related="listDomains"),
        Param("name", required=True, description="name of the project"),
        Param("displaytext", description="display text of the project"),
        Param("accountid", "uuid", description="ID of the account owning a project",
              entity=Account, since="4.15.0"),
        Param("userid", "uuid", description="user ID of the account to be assigned as owner of "
              "the project i.e., Project Admin", entity=User, since="4.15.0"),
    ],
    response=PROJECT,
    kind=Kind.ASYNC_CREATE,
    event=CREATE,
    instance_type="Project",
    create=create_project_entity,
    since="3.0.0",
)
def create_project(ctx: CallContext, p: Params) -> dict[str, Any]:
    project = ctx.db.get(Project, p["_instance_id"])
    assert project is not None  # created in this job's create phase
    set_resource(ctx, project)
    ctx.event_details["completed"] = ("Successfully completed creating project. "
                                      f"Project id={project.id}")
    return project_view(ctx.db, project)


@command(
    "listProjects",
    description="Lists projects and provides detailed information for listed projects",
    params=[
        *ACL_LIST_PARAMS,
        Param("id", "uuid", description="list projects by project ID", entity=Project),
        Param("name", description="list projects by name"),
        Param("displaytext", description="list projects by display text"),
        Param("state", description="list projects by state"),
        Param("tags", "map", description="List projects by tags (key/value pairs)"),
        Param("username", description="List projects by username", since="4.15.0"),
        Param("showicon", "boolean", description="flag to display the resource icon for "
              "projects"),
    ],
    response=PROJECT,
    kind=Kind.LIST,
    since="3.0.0",
)
def list_projects(ctx: CallContext, p: Params) -> ListResult:
    stmt = select(Project).where(Project.removed.is_(None))
    name, domain, listall = p["account"], p["domainid"], bool(p["listall"])
    member_of: int | None = None
    if ctx.is_normal_user:
        if name and name != ctx.account.account_name:
            raise PermissionDenied(f"Can't list account {name} projects; unauthorized")
        if domain is not None and domain.id != ctx.account.domain_id:
            raise PermissionDenied(f"Can't list domain ID = {domain.id} projects; "
                                   "unauthorized")
        member_of = ctx.account.id
    elif domain is not None:
        check_domain_access(ctx, domain)
        if name:
            owner = active_account(ctx, name, domain.id)
            if owner is None:
                raise InvalidParameterValue(f"Unable to find account {name} in domain "
                                            f"{domain.id}")
            member_of = owner.id
        scope = domain.path if p["isrecursive"] else None
        stmt = stmt.where(Project.domain_id.in_(select(Domain.id).where(
            Domain.path.startswith(scope)))) if scope else stmt.where(
            Project.domain_id == domain.id)
    elif name:
        raise InvalidParameterValue(f"could not find account {name} because domain is not "
                                    "specified")
    elif not listall:
        member_of = ctx.account.id
    if ctx.is_domain_admin:
        stmt = stmt.where(Project.domain_id.in_(select(Domain.id).where(
            Domain.path.startswith(ctx.domain.path))))
    if member_of is not None:
        stmt = stmt.where(Project.id.in_(select(ProjectAccount.project_id).where(
            ProjectAccount.account_id == member_of)))
    if p["id"] is not None:
        stmt = stmt.where(Project.id == p["id"].id)
    if p["name"]:
        stmt = stmt.where(Project.name == p["name"])
    if p["displaytext"]:
        stmt = stmt.where(Project.display_text == p["displaytext"])
    if p["state"]:
        stmt = stmt.where(Project.state == p["state"])
    if p["keyword"]:
        like = f"%{p['keyword']}%"
        stmt = stmt.where(or_(Project.name.like(like), Project.display_text.like(like)))
    if p["tags"]:
        return ListResult([], 0)  # no resource tags in the simulator
    return page_query(ctx, p, stmt.order_by(Project.id.desc()),
                      lambda project: project_view(ctx.db, project))


# --- updateProject / deleteProject ------------------------------------------------------------

def submit_update(ctx: CallContext, p: Params) -> Project:
    # The command's getEntityOwnerId looks the project up when the job is queued.
    project = live_project(p["id"], "Unable to find project by id {id}")
    return submitted(ctx, project, UPDATE, f"Updating project: {project.id}",
                     f"Project id: {project.id}")


def submit_delete(ctx: CallContext, p: Params) -> Project:
    project = live_project(p["id"], "Unable to find project by id {id}")
    return submitted(ctx, project, DELETE, f"Deleting project: {project.id}",
                     f"Project Id: {project.id}")


@command(
    "updateProject",
    description="Updates a project",
    params=[
        Param("id", "uuid", True, "id of the project to be modified", entity=Project),
        Param("account", description="new Admin account for the project"),
        Param("displaytext", description="display text of the project"),
        Param("userid", "uuid", description="ID of the user to be promoted/demoted",
              entity=User, since="4.15.0"),
        Param("roletype", description="Account level role to be assigned to the user/account "
              ": Admin/Regular", since="4.15.0"),
        Param("swapowner", "boolean", description="when true, it swaps ownership with the "
              "account/ user provided. Ideally to be used when a single project administrator "
              "is present. In case of multiple project admins, swapowner is to be set to "
              "false,to promote or demote the user/account based on the roleType (Regular or "
              "Admin) provided. Defaults to true", since="4.15.0"),
        Param("name", description="name of the project", since="4.19.0"),
    ],
    response=PROJECT,
    kind=Kind.ASYNC,
    event=UPDATE,
    instance_type="Project",
    create=submit_update,
    since="3.0.0",
)
def update_project(ctx: CallContext, p: Params) -> dict[str, Any]:
    project: Project = p["id"]
    if p["account"] is not None and p["userid"] is not None:
        raise InvalidParameterValue("Account name and user ID are mutually exclusive. Provide "
                                    "either account nameto update account or user ID to "
                                    "update the user of the project")
    swap = p["swapowner"] is None or p["swapowner"]
    new_role = None if swap else role_type(p["roletype"], "Regular")
    live_project(project, "Unable to find the project id={id}")
    check_modify(ctx, project)
    if p["name"]:
        project.name = p["name"]
    if p["displaytext"]:
        project.display_text = p["displaytext"]
    if p["account"] is not None:
        account = active_account(ctx, p["account"], project.domain_id)
        if account is None:
            raise InvalidParameterValue(f"Unable to find account name={p['account']} in domain "
                                        f"id={project.domain_id}")
        member = member_row(ctx, project, account)
        if member is None:
            raise InvalidParameterValue(f"Account {p['account']} doesn't belong to the project. "
                                        "Add it to the project first and then change the "
                                        "project's ownership")
        if swap:
            _swap_owner(ctx, project, member)
        else:
            owners = admins(ctx, project)
            if (len(owners) == 1 and owners[0].account_id == account.id
                    and member.account_role == "Admin" and new_role != "Admin"):
                raise InvalidParameterValue("Cannot demote the only admin of the project")
            member.account_role = new_role or "Regular"
    elif p["userid"] is not None and not swap:
        _set_user_role(ctx, project, p["userid"], new_role or "Regular")
    return project_view(ctx.db, project)


def _set_user_role(ctx: CallContext, project: Project, user: User, new_role: str) -> None:
    """Promote or demote a user member (4.15 user-level project membership)."""
    account = ctx.db.get(Account, user.account_id)
    if user.removed is not None or account is None or account.domain_id != project.domain_id:
        raise InvalidParameterValue("User doesn't belong to the specified account or domain")
    member = ctx.db.scalar(select(ProjectAccount).where(
        ProjectAccount.project_id == project.id, ProjectAccount.user_id == user.id))
    if member is None:
        raise InvalidParameterValue(f"User {user.username} doesn't belong to the project. Add "
                                    "it to the project first and then change the project's "
                                    "ownership")
    owners = admins(ctx, project)
    if len(owners) == 1 and owners[0].user_id == user.id and new_role != "Admin":
        raise InvalidParameterValue("Cannot demote the only admin of the project")
    member.account_role = new_role


def _swap_owner(ctx: CallContext, project: Project, future: ProjectAccount) -> None:
    """The old single owner becomes Regular, the named member Admin."""
    current = next(iter(admins(ctx, project)), None)
    if current is None or current.account_id == future.account_id:
        return
    current.account_role = "Regular"
    future.account_role = "Admin"


@command(
    "deleteProject",
    description="Deletes a project",
    params=[
        Param("id", "uuid", True, "id of the project to be deleted", entity=Project),
        Param("cleanup", "boolean", description="true if all project resources have to be "
              "cleaned up, false otherwise", since="4.16.0"),
    ],
    kind=Kind.ASYNC,
    event=DELETE,
    instance_type="Project",
    create=submit_delete,
    since="3.0.0",
)
def delete_project(ctx: CallContext, p: Params) -> SuccessResult:
    project = live_project(p["id"], "Unable to find project by id {id}")
    check_modify(ctx, project)
    webhooks = list(ctx.db.scalars(select(Webhook).where(
        Webhook.account_id == project.project_account_id, Webhook.removed.is_(None))))
    if webhooks and not p["cleanup"]:
        # The first non-empty resource kind is reported (webhooks are the only kind here).
        error = CloudRuntimeError("Can't delete the project yet because it has "
                                  f"{len(webhooks)} Webhook to clean up")
        error.uuids = [{"uuid": project.uuid or "", "description": "projectId"}]
        raise error
    removed = now()
    project.state = "Disabled"
    for webhook in webhooks:
        webhook.removed = removed
    for pair in ctx.db.scalars(select(SSHKeyPair).where(
            SSHKeyPair.account_id == project.project_account_id)):
        ctx.db.delete(pair)
    for member in ctx.db.scalars(select(ProjectAccount).where(
            ProjectAccount.project_id == project.id)):
        ctx.db.delete(member)
    account = ctx.db.get(Account, project.project_account_id)
    if account is not None:
        account.removed = removed
    project.removed = removed
    return SuccessResult()

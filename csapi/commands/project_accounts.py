"""Project members: addAccountToProject, deleteAccountFromProject, listProjectAccounts
(ProjectManagerImpl, QueryManagerImpl.listProjectAccountsInternal)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from csapi.api.acl import can_access_domain, domain_of, project_membership
from csapi.api.context import CallContext
from csapi.api.errors import InvalidParameterValue, PermissionDenied
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    EventSpec,
    Field,
    Kind,
    ListResult,
    Param,
    ResponseObject,
    SuccessResult,
    command,
)
from csapi.commands.projects import (
    ADD_ACCOUNT,
    REMOVE_ACCOUNT,
    active_account,
    admins,
    check_modify,
    live_project,
    member_row,
    role_type,
    set_resource,
    submitted,
    with_project_uuid,
)
from csapi.commands.views import USER, domain_path, user_view
from csapi.db.models import Account, Domain, Project, ProjectAccount, User
from csapi.seed import now

PROJECT_ACCOUNT = ResponseObject("projectaccount", (
    Field("projectid", "string", "Project ID"),
    Field("project", "string", "Project name"),
    Field("accountid", "string", "The ID of the Account"),
    Field("account", "string", "The name of the Account"),
    Field("username", "string", "Name of the user"),
    Field("accounttype", "integer", "Account type (admin, domain-admin, user)"),
    Field("userid", "string", "ID of the user"),
    Field("projectroleid", "string", "ID of the project role associated with the "
          "Account/User"),
    Field("role", "string", "Account role in the project (regular, owner)"),
    Field("domainid", "string", "ID of the Domain the Account belongs too"),
    Field("domain", "string", "Name of the Domain the Account belongs too"),
    Field("domainpath", "string", "Path of the Domain the Account belongs to"),
    Field("user", "list", "The list of users associated with Account", USER),
))


def member_view(db: Any, member: ProjectAccount, project: Project) -> dict[str, Any]:
    account = db.get(Account, member.account_id)
    domain = db.get(Domain, account.domain_id)
    user = db.get(User, member.user_id) if member.user_id else None
    users = db.scalars(select(User).where(User.account_id == account.id,
                                          User.removed.is_(None)).order_by(User.id))
    return {
        "projectid": project.uuid, "project": project.name, "accountid": account.uuid,
        "account": account.account_name, "username": user.username if user else None,
        "accounttype": account.type, "userid": user.uuid if user else None,
        "role": member.account_role, "domainid": domain.uuid, "domain": domain.name,
        "domainpath": domain_path(domain), "user": [user_view(db, u, account) for u in users],
    }


def _project(p: Params) -> Project:
    project = p["projectid"]
    if not isinstance(project, Project) or project.removed is not None:
        error = InvalidParameterValue("Unable to find project with specified id")
        if isinstance(project, Project):
            with_project_uuid(error, project)
        raise error
    return project


def _submit(ctx: CallContext, p: Params, spec: EventSpec, scheduled: str) -> Project:
    # The commands' getEntityOwnerId looks the project up when the job is queued.
    project = _project(p)
    return submitted(ctx, project, spec, scheduled.replace("{project}", str(project.id)),
                     f"Project id: {project.id}; accountName {p['account']}")


def submit_add(ctx: CallContext, p: Params) -> Project:
    if p["account"] is None and p["email"] is not None:
        return _submit(ctx, p, ADD_ACCOUNT, f"Sending invitation to email {p['email']} to join "
                       "project: {project}")
    return _submit(ctx, p, ADD_ACCOUNT, f"Adding account {p['account']} to project: "
                   "{project}")


def submit_remove(ctx: CallContext, p: Params) -> Project:
    return _submit(ctx, p, REMOVE_ACCOUNT, f"Removing account {p['account']} from project: "
                   "{project}")


@command(
    "addAccountToProject",
    description="Adds account to a project",
    params=[
        Param("projectid", "uuid", True, "ID of the project to add the account to",
              entity=Project, related="listProjects"),
        Param("account", description="name of the account to be added to the project"),
        Param("email", description="email to which invitation to the project is going to be "
              "sent"),
        Param("projectroleid", "uuid", description="ID of the project role", since="4.15.0"),
        Param("roletype", description="Project role type to be assigned to the user - Admin/"
              "Regular; default: Regular", since="4.15.0"),
    ],
    kind=Kind.ASYNC,
    event=ADD_ACCOUNT,
    instance_type="Project",
    create=submit_add,
    since="3.0.0",
)
def add_account_to_project(ctx: CallContext, p: Params) -> SuccessResult:
    if p["account"] is None and p["email"] is None:
        raise InvalidParameterValue("Either accountName or email is required")
    project = _project(p)
    role = role_type(p["roletype"], "Regular")
    if project.state != "Active":
        raise with_project_uuid(InvalidParameterValue(
            f"Can't add account to the specified project id in state={project.state} as it's "
            "no longer active"), project)
    account = None
    if p["account"] is not None:
        account = active_account(ctx, p["account"], project.domain_id)
        if account is None:
            error = InvalidParameterValue(f"Unable to find account name={p['account']} in "
                                          "specified domain id")
            error.uuids = [{"uuid": domain_of(ctx.db, project.domain_id).uuid or "",
                            "description": "domainId"}]
            raise error
        check_modify(ctx, project)
    if p["projectroleid"] is not None:
        raise InvalidParameterValue("Invalid project role ID for the given project")
    if account is None:
        raise InvalidParameterValue("Account information is required for assigning account "
                                    "to the project")
    if member_row(ctx, project, account) is None:
        ctx.db.add(ProjectAccount(account_id=account.id, account_role=role,
                                  project_account_id=project.project_account_id,
                                  project_id=project.id, created=now()))
    _member_event(ctx, project)
    return SuccessResult()


def _member_event(ctx: CallContext, project: Project) -> None:
    # The manager runs with the project in its CallContext: its Completed event belongs to
    # the project's account.
    set_resource(ctx, project)
    ctx.event_details["account"] = ctx.db.get(Account, project.project_account_id)


@command(
    "deleteAccountFromProject",
    description="Deletes account from the project",
    params=[
        Param("projectid", "uuid", True, "ID of the project to remove the account from",
              entity=Project, related="listProjects"),
        Param("account", required=True, description="name of the account to be removed from "
              "the project"),
    ],
    kind=Kind.ASYNC,
    event=REMOVE_ACCOUNT,
    instance_type="Project",
    create=submit_remove,
    since="3.0.0",
)
def delete_account_from_project(ctx: CallContext, p: Params) -> SuccessResult:
    project = _project(p)
    name = p["account"]
    account = active_account(ctx, name, project.domain_id)
    if account is None:
        error = InvalidParameterValue(f"Unable to find account name={name} in domain "
                                      f"id={project.domain_id}")
        error.uuids = [{"uuid": domain_of(ctx.db, project.domain_id).uuid or "",
                        "description": "domainId"}]
        raise error
    check_modify(ctx, project)
    member = member_row(ctx, project, account)
    if member is None:
        raise with_project_uuid(InvalidParameterValue(
            f"Account {name} is not assigned to the project with specified id"), project)
    owners = admins(ctx, project)
    if (len(owners) == 1 and owners[0].account_id == account.id
            and member.account_role == "Admin"):
        raise with_project_uuid(InvalidParameterValue(
            f"Unable to delete account {name} from the project with specified id as the "
            "account is the owner of the project"), project)
    for row in ctx.db.scalars(select(ProjectAccount).where(
            ProjectAccount.project_id == project.id, ProjectAccount.account_id == account.id)):
        ctx.db.delete(row)
    _member_event(ctx, project)
    return SuccessResult()


@command(
    "listProjectAccounts",
    description="Lists project's accounts",
    params=[
        Param("projectid", "uuid", True, "ID of the project", entity=Project,
              related="listProjects"),
        Param("account", description="list accounts of the project by account name"),
        Param("role", description="list accounts of the project by role"),
        Param("userid", "uuid", description="list users of the project by user ID",
              entity=User, since="4.15.0"),
        Param("projectroleid", "uuid", description="list accounts of the project by project "
              "role id", since="4.15.0"),
    ],
    response=PROJECT_ACCOUNT,
    kind=Kind.LIST,
    since="3.0.0",
)
def list_project_accounts(ctx: CallContext, p: Params) -> ListResult:
    project = live_project(p["projectid"], "Unable to find the project id={id}")
    # Domain admins only for projects inside their own subtree; everyone else must be a member.
    admin = ctx.is_root_admin or ctx.account.type == 4 or (
        ctx.is_domain_admin and can_access_domain(ctx, domain_of(ctx.db, project.domain_id)))
    if not admin and project_membership(ctx.db, project.project_account_id,
                                        ctx.account.id) is None:
        raise PermissionDenied(f"Account {ctx.account.account_name} is not authorized to list "
                               f"users of the project id={project.id}")
    stmt = select(ProjectAccount).join(Account, Account.id == ProjectAccount.account_id).where(
        ProjectAccount.project_id == project.id)
    if p["role"]:
        stmt = stmt.where(ProjectAccount.account_role == p["role"])
    if p["account"]:
        stmt = stmt.where(Account.account_name == p["account"])
    if p["userid"] is not None:
        stmt = stmt.where(ProjectAccount.user_id == p["userid"].id)
    if p["projectroleid"] is not None:
        return ListResult([], 0)  # no project roles in the simulator
    return page_query(ctx, p, stmt.order_by(ProjectAccount.id.desc()),
                      lambda member: member_view(ctx.db, member, project))


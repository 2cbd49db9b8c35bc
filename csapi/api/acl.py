"""Access control: role-based API access, entity access checks and list visibility.

Implemented once here and reused by every command (CloudStack's DynamicRoleBasedAPIAccessChecker,
AccountManagerImpl.checkAccess and buildACLSearchParameters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from csapi.api.context import TYPE_PROJECT, CallContext
from csapi.api.errors import (
    CS_UNAVAILABLE_COMMAND,
    UNAUTHORIZED,
    UNSUPPORTED_ACTION_ERROR,
    ApiError,
    InvalidParameterValue,
    PermissionDenied,
)
from csapi.api.registry import Command
from csapi.db.models import Account, Domain, Project, ProjectAccount, Role, RolePermission

# --- API access by role -------------------------------------------------------------------

def role_allows(db: Session, role: Role, command: Command) -> bool | None:
    """True/False from the role's first matching rule (in sort order); None when no rule
    matches. Root Admin (role id 1) may call everything."""
    if role.id == 1:
        return True
    rules = db.scalars(
        select(RolePermission).where(RolePermission.role_id == role.id)
        .order_by(RolePermission.sort_order, RolePermission.id)
    )
    for rule in rules:
        if rule_matches(rule.rule, command.name):
            return rule.permission.upper() == "ALLOW"
    return None


def rule_matches(rule: str, api_name: str) -> bool:
    """CloudStack's Rule.matches: case-insensitive, `*` stands for any run of characters."""
    pattern = ".*".join(re.escape(part) for part in rule.lower().split("*"))
    return re.fullmatch(pattern, api_name.lower()) is not None


def is_api_allowed(db: Session, role: Role, command: Command) -> bool:
    decision = role_allows(db, role, command)
    if decision is None:
        return role.role_type in command.authorized
    return decision


def check_api_access(ctx: CallContext, command: Command) -> None:
    decision = role_allows(ctx.db, ctx.role, command)
    if decision is False:
        raise ApiError(
            UNAUTHORIZED,
            f"The given command '{command.name}' either does not exist, is not available for "
            "user.",
            None,
        )
    if decision is None and ctx.role.role_type not in command.authorized:
        raise ApiError(
            UNSUPPORTED_ACTION_ERROR,
            f"The API {command.name} does not exist or is not available for this account.",
            CS_UNAVAILABLE_COMMAND,
            envelope="errorresponse",
        )


# --- Entity access --------------------------------------------------------------------------

def domain_of(db: Session, domain_id: int) -> Domain:
    domain = db.get(Domain, domain_id)
    assert domain is not None
    return domain


def is_in_subtree(domain: Domain, ancestor: Domain) -> bool:
    return domain.path.startswith(ancestor.path)


def can_access_domain(ctx: CallContext, domain: Domain) -> bool:
    if ctx.is_root_admin:
        return True
    if ctx.is_domain_admin:
        return is_in_subtree(domain, ctx.domain)
    return domain.id == ctx.domain.id


def check_domain_access(ctx: CallContext, domain: Domain) -> None:
    if not can_access_domain(ctx, domain):
        raise PermissionDenied(
            f"Account {ctx.account.account_name} does not have permission to operate within "
            f"domain id={domain.uuid}"
        )


def project_membership(db: Session, project_account_id: int, account_id: int) -> str | None:
    """The member's role in the project ("Admin"/"Regular") or None."""
    return db.scalar(
        select(ProjectAccount.account_role).where(
            ProjectAccount.project_account_id == project_account_id,
            ProjectAccount.account_id == account_id,
        )
    )


def can_access_account(ctx: CallContext, owner: Account, *, operate: bool = False) -> bool:
    """May the caller use (or, with operate=True, change) resources owned by `owner`?"""
    if ctx.is_root_admin or owner.id == ctx.account.id:
        return True
    if ctx.is_domain_admin:
        return is_in_subtree(domain_of(ctx.db, owner.domain_id), ctx.domain) and owner.type != 1
    if owner.type == TYPE_PROJECT:
        # Any project member may use and operate the project's resources (as CloudStack);
        # managing the project itself needs the project Admin role (checked by its commands).
        return project_membership(ctx.db, owner.id, ctx.account.id) is not None
    return False


def check_account_access(
    ctx: CallContext, owner: Account, *, operate: bool = False, what: str | None = None
) -> None:
    if not can_access_account(ctx, owner, operate=operate):
        target = what or f"account {owner.account_name}"
        raise PermissionDenied(
            f"Account {ctx.account.account_name} does not have permission to operate with "
            f"resource {target}"
        )


# --- List visibility ----------------------------------------------------------------------

@dataclass
class Visibility:
    """Which owners a list command may show. `account_ids` None = any account;
    `domain_path` None = any domain; `recursive` widens the domain to its subtree;
    `projects`: "exclude" (default), "only" (project accounts in account_ids) or "include"."""

    account_ids: set[int] | None = None
    domain_path: str | None = None
    domain_id: int | None = None
    recursive: bool = False
    projects: str = "exclude"

    def apply(self, stmt: Select[Any], account_col: Any, domain_col: Any) -> Select[Any]:
        if self.account_ids is not None:
            if not self.account_ids:
                return stmt.where(false())
            stmt = stmt.where(account_col.in_(self.account_ids))
        if self.domain_path is not None:
            if self.recursive:
                # autoescape: a `_` or `%` in a domain name must not widen the subtree.
                sub = select(Domain.id).where(
                    Domain.path.startswith(self.domain_path, autoescape=True))
                stmt = stmt.where(domain_col.in_(sub))
            else:
                stmt = stmt.where(domain_col == self.domain_id)
        if self.projects == "exclude":
            project_accounts = select(Account.id).where(Account.type == TYPE_PROJECT)
            stmt = stmt.where(account_col.not_in(project_accounts))
        elif self.projects == "only":
            project_accounts = select(Account.id).where(Account.type == TYPE_PROJECT)
            stmt = stmt.where(account_col.in_(project_accounts))
        return stmt


def find_account(db: Session, name: str, domain: Domain) -> Account:
    account = db.scalar(
        select(Account).where(
            Account.account_name == name, Account.domain_id == domain.id,
            Account.removed.is_(None),
        )
    )
    if account is None:
        raise InvalidParameterValue(f"Unable to find account by name {name} in domain "
                                    f"{domain.uuid}")
    return account


def accessible_project_accounts(ctx: CallContext) -> set[int]:
    stmt = select(Project.project_account_id).where(Project.removed.is_(None))
    if ctx.is_root_admin:
        pass
    elif ctx.is_domain_admin:
        stmt = stmt.where(Project.domain_id.in_(
            select(Domain.id).where(Domain.path.startswith(ctx.domain.path, autoescape=True))
        ))
    else:
        stmt = stmt.where(Project.project_account_id.in_(
            select(ProjectAccount.project_account_id).where(
                ProjectAccount.account_id == ctx.account.id
            )
        ))
    return set(ctx.db.scalars(stmt))


def visibility(
    ctx: CallContext,
    *,
    account: str | None = None,
    domain: Domain | None = None,
    isrecursive: bool | None = None,
    listall: bool | None = None,
    project: Project | int | None = None,
    id_given: bool = False,
) -> Visibility:
    """CloudStack's buildACLSearchParameters for list commands."""
    if account and project is not None:
        raise InvalidParameterValue("Account and projectId can't be specified together")
    if project is not None:
        if project == -1:
            ids = accessible_project_accounts(ctx)
            return Visibility(account_ids=ids, projects="only")
        assert isinstance(project, Project)
        owner = ctx.db.get(Account, project.project_account_id)
        assert owner is not None
        if not (can_access_account(ctx, owner)):
            raise PermissionDenied(
                f"Account {ctx.account.account_name} can't access project id={project.uuid}"
            )
        return Visibility(account_ids={owner.id}, projects="include")
    projects = "include" if id_given else "exclude"
    if domain is not None:
        check_domain_access(ctx, domain)
    if account:
        target_domain = domain or ctx.domain
        owner = find_account(ctx.db, account, target_domain)
        check_account_access(ctx, owner)
        return Visibility(account_ids={owner.id}, projects=projects)
    if ctx.is_normal_user:
        return Visibility(account_ids={ctx.account.id}, projects=projects)
    if domain is not None:
        return Visibility(domain_path=domain.path, domain_id=domain.id,
                          recursive=bool(isrecursive), projects=projects)
    if listall or id_given:
        if ctx.is_root_admin:
            return Visibility(projects=projects)
        return Visibility(domain_path=ctx.domain.path, domain_id=ctx.domain.id, recursive=True,
                          projects=projects)
    return Visibility(account_ids={ctx.account.id}, projects=projects)



# --- Owner of a new resource ----------------------------------------------------------------

def finalize_owner(
    ctx: CallContext,
    account: str | None = None,
    domain: Domain | None = None,
    project: Project | int | None = None,
) -> Account:
    """AccountManagerImpl.finalizeOwner: the account a created resource belongs to, from the
    `account`+`domainid` or `projectid` parameters (else the caller). Texts name internal
    ids, as CloudStack's do."""
    is_admin = ctx.is_root_admin or ctx.is_domain_admin or ctx.account.type == 4
    if ctx.account.id == 1 and (not account or domain is None) and project is None:
        raise InvalidParameterValue("Account and domainId are needed for resource creation")
    if account and domain is not None and project is not None:
        raise InvalidParameterValue("ProjectId and account/domainId can't be specified together")
    if project is not None:
        # `projectid=-1` (all projects, for lists) names no project here.
        if not isinstance(project, Project) or project.removed is not None:
            raise InvalidParameterValue("Unable to find project by id="
                                        f"{getattr(project, 'id', project)}")
        owner = ctx.db.get(Account, project.project_account_id)
        assert owner is not None
        if ctx.is_domain_admin:
            check_domain_access(ctx, domain_of(ctx.db, project.domain_id))
        elif not ctx.is_root_admin and project_membership(ctx.db, owner.id,
                                                          ctx.account.id) is None:
            raise PermissionDenied(f"Account {ctx.account.account_name} is unauthorised to use "
                                   f"project id={project.id}")
        return owner
    if account and domain is not None:
        if not is_admin:
            if account != ctx.account.account_name or domain.id != ctx.account.domain_id:
                raise PermissionDenied(f"Can't create/list resources for account {account} in "
                                       f"domain {domain.id}, permission denied")
            return ctx.account
        if domain.removed is not None:
            raise InvalidParameterValue(f"Unable to find the domain by id={domain.id}")
        owner = ctx.db.scalar(select(Account).where(
            Account.account_name == account, Account.domain_id == domain.id,
            Account.removed.is_(None)))
        if owner is None:
            raise InvalidParameterValue(f"Unable to find account {account} in domain "
                                        f"{domain.id}")
        check_domain_access(ctx, domain)
        return owner
    if account or domain is not None:
        raise InvalidParameterValue("AccountName and domainId must be specified together")
    return ctx.account

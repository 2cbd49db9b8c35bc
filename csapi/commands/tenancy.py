"""Rules shared by the domain, account and user commands (AccountManagerImpl): the role-type
hierarchy for user/account mutations, role escalation, network-domain names, account and
domain removal. No commands are declared here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from csapi import settings
from csapi.api.acl import rule_matches
from csapi.api.context import TYPE_ADMIN, TYPE_PROJECT, CallContext
from csapi.api.errors import PermissionDenied
from csapi.api.registry import REGISTRY
from csapi.db.models import (
    Account,
    Domain,
    DomainDetail,
    Project,
    ProjectAccount,
    Role,
    RolePermission,
    SSHKeyPair,
    User,
    Webhook,
)

SYSTEM_ACCOUNT_ID, ADMIN_ACCOUNT_ID = 1, 2
SYSTEM_USER_ID = 1
ROOT_DOMAIN_ID = 1

# RoleType ids: a lower id is a higher privilege (Admin 1 > ResourceAdmin 2 > DomainAdmin 4 >
# User 8); the declaration order gives the ordinals validateRoleChange compares.
ROLE_TYPE_ID = {"Admin": 1, "ResourceAdmin": 2, "DomainAdmin": 4, "User": 8}
ROLE_TYPE_ORDINAL = {"Admin": 0, "ResourceAdmin": 1, "DomainAdmin": 2, "User": 3}
# Account.Type for a role type (RoleType.getAccountType) and back (getByAccountType).
ACCOUNT_TYPE_OF_ROLE = {"Admin": 1, "ResourceAdmin": 3, "DomainAdmin": 2, "User": 0}
ROLE_TYPE_OF_ACCOUNT = {0: "User", 1: "Admin", 2: "DomainAdmin", 3: "ResourceAdmin"}
# Account.Type names as CloudStack prints them in messages.
ACCOUNT_TYPE_NAME = {0: "NORMAL", 1: "ADMIN", 2: "DOMAIN_ADMIN", 3: "RESOURCE_DOMAIN_ADMIN",
                     4: "READ_ONLY_ADMIN", 5: "PROJECT"}

NETWORK_DOMAIN_TEXT = (
    "Invalid network domain. Total length shouldn't exceed 190 chars. Each domain label must "
    "be between 1 and 63 characters long, can contain ASCII letters 'a' through 'z', the "
    "digits '0' through '9', and the hyphen ('-'); can't start or end with \"-\""
)
_LABEL = re.compile(r"[a-z0-9-]*")


def now() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


def java(value: Any) -> str:
    """A value as Java's string concatenation prints it (None -> "null")."""
    return "null" if value is None else str(value)


def valid_network_domain(name: str) -> bool:
    """NetUtils.verifyDomainName: at most 190 characters; labels (Java's split drops trailing
    empty ones) of 1-63 letters, digits or hyphens, not starting or ending with a hyphen."""
    if len(name) > 190:
        return False
    labels = name.split(".")
    while labels and labels[-1] == "":
        labels.pop()
    return all(
        1 <= len(label) <= 63 and _LABEL.fullmatch(label.lower()) is not None
        and not label.startswith("-") and not label.endswith("-")
        for label in labels
    )


# --- who may operate on whom ---------------------------------------------------------------

def role_type_of(account: Account) -> str | None:
    """RoleType.getByAccountType; None is RoleType.Unknown (projects, read-only admins)."""
    return ROLE_TYPE_OF_ACCOUNT.get(account.type)


def is_root_admin_account(db: Session, account: Account) -> bool:
    if account.type == TYPE_ADMIN:
        return True
    role = db.get(Role, account.role_id) if account.role_id else None
    return account.type == 4 and role is not None and role.role_type == "Admin"


def _names(account: Account) -> str:
    return f"{account.account_name}, {account.uuid}"


def check_role_hierarchy(ctx: CallContext, target: Account, user: User | None = None) -> None:
    """checkCallerRoleTypeAllowedForUserOrAccountOperations: the caller's role type must be
    higher than the target's; the same type only for its own account or for the role types
    listed in the domain setting; `system` and `admin` may do anything."""
    caller = ctx.account
    caller_type, target_type = role_type_of(caller), role_type_of(target)
    if caller_type is None or target_type is None:
        raise PermissionDenied(f"The role type of caller account [{_names(caller)}] or target "
                               f"account [{_names(target)}] is unknown")
    if caller.id in (SYSTEM_ACCOUNT_ID, ADMIN_ACCOUNT_ID):
        return
    if ROLE_TYPE_ID[caller_type] < ROLE_TYPE_ID[target_type]:
        return
    if ROLE_TYPE_ID[caller_type] > ROLE_TYPE_ID[target_type]:
        raise PermissionDenied(f"The calling account [{_names(caller)}] has a lower role type "
                               f"than the user account [{_names(target)}]")
    if caller.id != target.id:
        allowed = settings.value(
            ctx.db, "role.types.allowed.for.operations.on.accounts.of.same.role.type",
            domain_id=caller.domain_id) or ""
        if caller_type not in [t.strip() for t in allowed.split(",")]:
            raise PermissionDenied(
                f"The calling account [{_names(caller)}] is not allowed to perform this "
                "operation on users from other accounts of the same role type within the "
                "domain")
    elif user is not None and user.id != ctx.user.id and not settings.value(
            ctx.db, "allow.operations.on.users.in.same.account", domain_id=caller.domain_id):
        raise PermissionDenied("The user operations are not allowed by the users in the same "
                               "account")


def allowed_commands(db: Session, role: Role) -> set[str]:
    """Every API `role` may call (role rules in order, else the commands' `authorized`)."""
    if role.id == 1:
        return set(REGISTRY)
    rules = list(db.scalars(select(RolePermission).where(RolePermission.role_id == role.id)
                            .order_by(RolePermission.sort_order, RolePermission.id)))
    allowed = set()
    for command in REGISTRY.values():
        decision = next((r.permission.upper() == "ALLOW" for r in rules
                         if rule_matches(r.rule, command.name)), None)
        if decision is None:
            decision = role.role_type in command.authorized
        if decision:
            allowed.add(command.name)
    return allowed


def check_role_escalation(ctx: CallContext, target_role_id: int | None) -> None:
    """checkRoleEscalation: refuse when the target's role may call an API the caller's
    role may not."""
    caller = ctx.account
    if target_role_id is None or caller.role_id == target_role_id:
        return
    target_role = ctx.db.get(Role, target_role_id)
    if target_role is None:
        return
    extra = allowed_commands(ctx.db, target_role) - allowed_commands(ctx.db, ctx.role)
    if extra:
        raise PermissionDenied(f"User of Account {caller.account_name} and domain "
                               f"{ctx.domain.name} can not create an account with access to "
                               "more privileges they have themself.")


def verify_caller_privilege(ctx: CallContext, target: Account, user: User | None = None,
                            *, role_id: int | None = None) -> None:
    """verifyCallerPrivilegeForUserOrAccountOperations (skipped for project accounts)."""
    if target.type == TYPE_PROJECT:
        return
    check_role_hierarchy(ctx, target, user)
    if ctx.account.id == SYSTEM_ACCOUNT_ID or ctx.is_root_admin:
        return
    if is_root_admin_account(ctx.db, target):
        raise PermissionDenied(f"Account [{_names(ctx.account)}] cannot perform this operation "
                               f"for user account [{_names(target)}] ")
    check_role_escalation(ctx, role_id if role_id is not None else target.role_id)


# --- look-ups -------------------------------------------------------------------------------

def active_account(db: Session, name: str | None, domain: Domain | None,
                   *, enabled_only: bool = False) -> Account | None:
    """AccountDao.findActiveAccount / findEnabledAccount (names as MySQL compares them)."""
    if name is None or domain is None:
        return None
    stmt = select(Account).where(func.lower(Account.account_name) == name.lower(),
                                 Account.domain_id == domain.id, Account.removed.is_(None))
    if enabled_only:
        stmt = stmt.where(Account.state == "enabled")
    return db.scalar(stmt.order_by(Account.id).limit(1))


def username_taken_in_domain(db: Session, username: str, domain_id: int,
                             *, exclude_user: int | None = None) -> User | None:
    """UserAccountDao.validateUsernameInDomain: a live user of a live account in the domain."""
    stmt = (select(User).join(Account, Account.id == User.account_id)
            .where(func.lower(User.username) == username.lower(),
                   Account.domain_id == domain_id, User.removed.is_(None),
                   Account.removed.is_(None)))
    if exclude_user is not None:
        stmt = stmt.where(User.id != exclude_user)
    return db.scalar(stmt.order_by(User.id).limit(1))


def administered_project_ids(db: Session, account_id: int) -> list[int]:
    return list(db.scalars(
        select(ProjectAccount.project_id).join(Project, Project.id == ProjectAccount.project_id)
        .where(ProjectAccount.account_id == account_id, ProjectAccount.account_role == "Admin",
               Project.removed.is_(None)).order_by(ProjectAccount.project_id)
    ))


def visible_roles(ctx: CallContext) -> Iterable[Role]:
    """RoleService.listRoles for the caller: root admins see every role; others the public
    roles whose type is not above their own."""
    roles = ctx.db.scalars(select(Role).where(Role.removed.is_(None)).order_by(Role.id))
    if ctx.is_root_admin:
        return list(roles)
    mine = ROLE_TYPE_ORDINAL.get(ctx.role_type, 3)
    return [r for r in roles
            if r.public_role and ROLE_TYPE_ORDINAL.get(r.role_type, 99) >= mine]


# --- removal ----------------------------------------------------------------------------------

def remove_account(db: Session, account: Account) -> None:
    """AccountManagerImpl.deleteAccount + cleanupAccount, for what csapi keeps: the account is
    marked removed, its users removed, its project memberships, SSH key pairs and webhooks
    (soft-deleted, so nothing is delivered for them any more) go with it."""
    when = now()
    account.removed = when
    account.state = "removed"
    account.cleanup_needed = False
    db.execute(update(User).where(User.account_id == account.id, User.removed.is_(None))
               .values(removed=when))
    db.execute(delete(ProjectAccount).where(ProjectAccount.account_id == account.id))
    db.execute(delete(SSHKeyPair).where(SSHKeyPair.account_id == account.id))
    db.execute(update(Webhook).where(Webhook.account_id == account.id,
                                     Webhook.removed.is_(None)).values(removed=when))
    db.flush()


def remove_project(db: Session, project: Project) -> None:
    """ProjectManagerImpl.deleteProject as domain clean-up uses it: the project is disabled
    and removed together with its hidden account and memberships."""
    project.state = "Disabled"
    project.removed = now()
    db.execute(delete(ProjectAccount).where(ProjectAccount.project_id == project.id))
    owner = db.get(Account, project.project_account_id)
    if owner is not None and owner.removed is None:
        remove_account(db, owner)


def remove_domain_row(db: Session, domain: Domain) -> None:
    """DomainDao.remove (callers check that nothing live is left) plus its details."""
    domain.removed = now()
    if domain.parent is not None:
        parent = db.get(Domain, domain.parent)
        if parent is not None and parent.child_count:
            parent.child_count -= 1
    db.execute(delete(DomainDetail).where(DomainDetail.domain_id == domain.id))
    db.flush()


def cleanup_domain(db: Session, domain: Domain) -> None:
    """DomainManagerImpl.cleanupDomain: the domain and its sub-domains go inactive, sub-domains
    are cleaned first, then every account (a project account by deleting its project), then
    the domain itself is removed."""
    db.execute(update(Domain).where(Domain.path.startswith(domain.path, autoescape=True),
                                    Domain.removed.is_(None)).values(state="Inactive"))
    db.flush()
    children = db.scalars(select(Domain).where(Domain.parent == domain.id,
                                               Domain.removed.is_(None)).order_by(Domain.id))
    for child in list(children):
        cleanup_domain(db, child)
    accounts = db.scalars(select(Account).where(Account.domain_id == domain.id,
                                                Account.removed.is_(None)).order_by(Account.id))
    for account in list(accounts):
        if account.type == TYPE_PROJECT:
            project = db.scalar(select(Project).where(
                Project.project_account_id == account.id, Project.removed.is_(None)))
            if project is not None:
                remove_project(db, project)
                continue
        if account.removed is None:
            remove_account(db, account)
    db.refresh(domain)
    remove_domain_row(db, domain)


def has_live_children(db: Session, domain: Domain) -> bool:
    live_account = db.scalar(select(Account.id).where(
        Account.domain_id == domain.id, Account.removed.is_(None)).limit(1))
    live_child = db.scalar(select(Domain.id).where(
        Domain.parent == domain.id, Domain.removed.is_(None)).limit(1))
    return live_account is not None or live_child is not None


def accounts_needing_cleanup(db: Session, domain: Domain) -> int:
    return int(db.scalar(select(func.count()).select_from(Account).where(
        Account.domain_id == domain.id, Account.removed.is_not(None),
        Account.cleanup_needed.is_(True))) or 0)


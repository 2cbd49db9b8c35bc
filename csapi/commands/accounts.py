"""Accounts: createAccount, listAccounts, updateAccount, enableAccount, lockAccount
(AccountManagerImpl, QueryManagerImpl; tenancy spec §2). disableAccount and deleteAccount
are in account_lifecycle.py."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from sqlalchemy import func, select

from csapi import events, settings
from csapi.api.acl import check_account_access, check_domain_access
from csapi.api.context import TYPE_PROJECT, CallContext
from csapi.api.errors import (
    CloudRuntimeError,
    InvalidParameterValue,
    ParamError,
    PermissionDenied,
    ServerError,
    too_long,
    unknown_uuid,
)
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ROOT_ONLY,
    EventSpec,
    Kind,
    ListResult,
    Param,
    command,
)
from csapi.commands import tenancy
from csapi.commands.domains import LISTALL_TEXT, details_param
from csapi.commands.views import ACCOUNT, account_view
from csapi.crypto import hash_password
from csapi.db.models import Account, AccountDetail, DataCenter, Domain, Role, User
from csapi.seed import DEFAULT_ROLE_FOR_TYPE

API_KEY_ACCESS = {"ENABLED": True, "DISABLED": False, "INHERIT": None}
API_KEY_ACCESS_TEXT = "ApiKeyAccess value can only be Enabled/Disabled/Inherit"


def account_response(ctx: CallContext, account: Account) -> dict[str, Any]:
    return account_view(ctx.db, account, full=ctx.is_root_admin)


def api_key_access(value: str) -> bool | None:
    try:
        return API_KEY_ACCESS[value.upper()]
    except KeyError:
        raise InvalidParameterValue(API_KEY_ACCESS_TEXT) from None


def first_map_entry(value: dict[int, dict[str, str]] | None) -> dict[str, str] | None:
    """CloudStack reads a `details` map parameter as its first entry's fields."""
    if not value:
        return None
    return value[min(value)]


def save_details(ctx: CallContext, account: Account, details: dict[str, str]) -> None:
    """AccountDetailsDao.update: set each named detail, keep the others."""
    for name, val in details.items():
        row = ctx.db.scalar(select(AccountDetail).where(
            AccountDetail.account_id == account.id, AccountDetail.name == name))
        if row is None:
            ctx.db.add(AccountDetail(account_id=account.id, name=name, value=val))
        else:
            row.value = val


def allow_multiple_accounts(ctx: CallContext, domain: Domain) -> bool:
    return bool(settings.value(ctx.db, "user.allow.multiple.accounts", domain_id=domain.id))


# Columns narrower than the parameters (255): refused before MySQL/MariaDB would fail the
# INSERT with a data error (an unhandled 530).
ACCOUNT_NAME_LENGTH, UUID_LENGTH, TIMEZONE_LENGTH = 100, 40, 30


def check_fits(command: str, value: str | None, limit: int, param: str) -> None:
    if value is not None and len(value) > limit:
        raise too_long(command, limit, param)


def create_user_row(ctx: CallContext, account: Account, p: Params,
                    user_uuid: str | None) -> User:
    command = ctx.command.name if ctx.command else "createUser"
    check_fits(command, user_uuid, UUID_LENGTH, "userid")
    check_fits(command, p["timezone"], TIMEZONE_LENGTH, "timezone")
    if user_uuid and ctx.db.scalar(select(User.id).where(User.uuid == user_uuid)) is not None:
        # CloudStack fails on the database's duplicate key; we say what is wrong.
        raise InvalidParameterValue(f"A user with the UUID {user_uuid} already exists")
    user = User(uuid=user_uuid or str(uuidlib.uuid4()), username=p["username"],
                password=hash_password(p["password"]), account_id=account.id,
                firstname=p["firstname"], lastname=p["lastname"], email=p["email"],
                state="enabled", timezone=p["timezone"], source="native", is_default=False,
                login_attempts=0, created=tenancy.now())
    ctx.db.add(user)
    ctx.db.flush()
    return user


def record(ctx: CallContext, event_type: str, description: str, resource_type: str,
           resource: Account | User, state: str = "Completed") -> None:
    events.record(ctx.db, ctx.pending_events, event_type=event_type, description=description,
                  user=ctx.user, account=ctx.account, state=state,
                  resource_type=resource_type, resource_id=resource.id,
                  resource_uuid=resource.uuid)


# --- createAccount ------------------------------------------------------------------------

@command(
    "createAccount",
    description="Creates an account",
    params=[
        Param("account", description="Name of the account to be created. The user will be "
              "added to this newly created account. If no account is specified, the username "
              "will be used as the account name."),
        Param("accounttype", "short", description="Type of the account.  Specify 0 for user, 1 "
              "for root admin, and 2 for domain admin"),
        Param("roleid", "uuid", description="Creates the account under the specified role.",
              entity=Role, related="listRoles"),
        Param("domainid", "uuid", description="Creates the user under the specified domain.",
              entity=Domain, related="listDomains"),
        Param("email", required=True, description="email"),
        Param("firstname", required=True, description="firstname"),
        Param("lastname", required=True, description="lastname"),
        Param("password", required=True, description="Clear text password (Default hashed to "
              "SHA256SALT). If you wish to use any other hashing algorithm, you would need to "
              "write a custom authentication adapter See Docs section."),
        Param("timezone", description="Specifies a timezone for this command. For more "
              "information on the timezone parameter, see Time Zone Format."),
        Param("username", required=True, description="Unique username."),
        Param("networkdomain", description="Network domain for the account's networks"),
        Param("accountdetails", "map", description="details for account used to store "
              "specific parameters"),
        Param("accountid", description="Account UUID, required for adding account from "
              "external provisioning system"),
        Param("userid", description="User UUID, required for adding account from external "
              "provisioning system"),
    ],
    response=ACCOUNT,
    event=EventSpec("ACCOUNT.CREATE", "creating Account"),
)
def create_account(ctx: CallContext, p: Params) -> dict[str, Any]:
    db = ctx.db
    role: Role | None = p["roleid"]
    if role is not None and role.removed is not None:
        raise unknown_uuid("createAccount", "roleid", role.uuid or "")
    account_type, role_id = _type_and_role(role, p["accounttype"])
    if not p["password"]:
        raise ParamError("Empty passwords are not allowed")
    if account_type is None and role_id is None:
        raise ParamError("Neither account type and role ID are not provided")
    assert account_type is not None and role_id is not None
    username: str = p["username"]
    given: Domain | None = p["domainid"]
    detail = f"Account Name: {username}, Domain Id:{tenancy.java(given.id if given else None)}"
    domain = given or db.get(Domain, tenancy.ROOT_DOMAIN_ID)
    assert domain is not None
    name: str = p["account"] if p["account"] is not None else username
    check_fits("createAccount", name, ACCOUNT_NAME_LENGTH,
               "account" if p["account"] is not None else "username")
    check_fits("createAccount", p["accountid"], UUID_LENGTH, "accountid")
    for value, text in ((username, "Username"), (p["firstname"], "Firstname"),
                        (p["lastname"], "Lastname")):
        if not value:
            raise InvalidParameterValue(f"{text} is empty")
    if domain.removed is not None:
        raise InvalidParameterValue(f"The domain {domain.id} does not exist; unable to create "
                                    "account")
    check_domain_access(ctx, domain)
    if not allow_multiple_accounts(ctx, domain) and tenancy.username_taken_in_domain(
            db, username, domain.id):
        raise InvalidParameterValue(f"The user {username} already exists in domain "
                                    f"{domain.name}")
    network = p["networkdomain"]
    if network and not tenancy.valid_network_domain(network):
        raise InvalidParameterValue(tenancy.NETWORK_DOMAIN_TEXT)
    if domain.state.strip() == "Inactive":
        raise CloudRuntimeError(f"The account cannot be created as domain {domain.name} is "
                                "being deleted")
    if domain.id != tenancy.ROOT_DOMAIN_ID and account_type == 1:
        raise InvalidParameterValue(f"Invalid account type ADMIN given for an account in domain "
                                    f"{domain.name}; unable to create user of admin role type "
                                    "in non-ROOT domain.")
    if tenancy.active_account(db, name, domain) is not None:
        raise InvalidParameterValue(f"The specified account: {name} already exists")
    if account_type == 3 and db.scalar(select(DataCenter.id).where(
            DataCenter.domain_id == domain.id, DataCenter.removed.is_(None))) is None:
        raise InvalidParameterValue(f"The account cannot be created as domain {domain.name} is "
                                    "not associated with any private Zone")
    forced = p["accountid"]
    if forced and db.scalar(select(Account.id).where(Account.uuid == forced)) is not None:
        # CloudStack fails on the database's duplicate key; we say what is wrong.
        raise InvalidParameterValue(f"An account with the UUID {forced} already exists")
    account = Account(uuid=forced or str(uuidlib.uuid4()), account_name=name, type=account_type,
                      role_id=role_id, domain_id=domain.id, state="enabled",
                      network_domain=network or None, cleanup_needed=False, default=False,
                      created=tenancy.now())
    tenancy.verify_caller_privilege(ctx, account, role_id=role_id)
    db.add(account)
    db.flush()
    details = first_map_entry(p["accountdetails"])
    if details:
        save_details(ctx, account, details)
    user = create_user_row(ctx, account, p, p["userid"])
    # Two ActionEvents, in CloudStack's order, instead of the declared one.
    ctx.event_details["skip"] = True
    record(ctx, "ACCOUNT.CREATE", f"Successfully completed creating Account. {detail}",
           "Account", account)
    record(ctx, "USER.CREATE", f"Successfully completed creating User. {detail}", "User", user)
    return account_response(ctx, account)


def _type_and_role(role: Role | None, account_type: int | None) -> tuple[int | None, int | None]:
    """RoleType.getAccountTypeByRole / getRoleByAccountType: a role decides the type; a bare
    type gets its default role; unknown types count as not given."""
    if role is not None:
        return tenancy.ACCOUNT_TYPE_OF_ROLE.get(role.role_type), role.id
    if account_type not in (0, 1, 2, 3):
        return None, None
    return account_type, DEFAULT_ROLE_FOR_TYPE[account_type]


# --- listAccounts -------------------------------------------------------------------------

@command(
    "listAccounts",
    description="Lists accounts and provides detailed account information for listed accounts",
    params=[
        Param("listall", "boolean", description=LISTALL_TEXT),
        Param("domainid", "uuid", description="list only resources belonging to the domain "
              "specified", entity=Domain, related="listDomains"),
        Param("isrecursive", "boolean", description="defaults to false, but if true, lists all "
              "resources from the parent specified by the domainId till leaves."),
        Param("accounttype", "integer", description="list accounts by account type. Valid "
              "account types are 1 (admin), 2 (domain-admin), and 0 (user)."),
        Param("id", "uuid", description="list account by account ID", entity=Account),
        Param("iscleanuprequired", "boolean", description="list accounts by cleanuprequired "
              "attribute (values are true or false)"),
        Param("name", description="list account by account name"),
        Param("state", description="list accounts by state. Valid states are enabled, "
              "disabled, and locked."),
        Param("details", "list", description="comma separated list of account details "
              "requested, value can be a list of [ all, resource, min]"),
        Param("apikeyaccess", description="List accounts by the Api key access value",
              since="4.20.1.0", authorized=ROOT_ONLY),
        Param("showicon", "boolean", description="flag to display the resource icon for "
              "accounts"),
        Param("tag", description="Tag for resource type to return usage", since="4.20.0"),
    ],
    response=ACCOUNT,
    kind=Kind.LIST,
)
def list_accounts(ctx: CallContext, p: Params) -> ListResult:
    db = ctx.db
    details = details_param(p["details"])
    domain: Domain | None = p["domainid"]
    target: Account | None = p["id"]
    name: str | None = p["name"]
    recursive = bool(p["isrecursive"])
    is_admin = ctx.account.type in (1, 2, 3, 4)
    account_id: int | None = None
    if domain is not None:
        if domain.removed is not None:
            raise InvalidParameterValue(f"Domain id={domain.id} doesn't exist")
        check_domain_access(ctx, domain)
    if target is None:
        view_all = settings.value(db, "allow.user.view.all.domain.accounts",
                                  domain_id=ctx.domain.id)
        if (p["listall"] and is_admin) or view_all:
            domain, recursive = domain or ctx.domain, True
        elif not is_admin or domain is None:
            account_id = ctx.account.id
    elif domain is not None and name is not None:
        found = tenancy.active_account(db, name, domain)
        if found is None or found.id == tenancy.SYSTEM_ACCOUNT_ID:
            raise InvalidParameterValue(f"Unable to find account by name {name} in domain "
                                        f"{domain.id}")
        check_account_access(ctx, found)
        account_id = target.id
    else:
        if (target.removed is not None or target.id == tenancy.SYSTEM_ACCOUNT_ID
                or (domain is not None and target.domain_id != domain.id)):
            where = "" if domain is None else f" in domain {domain.id}"
            raise InvalidParameterValue(f"Unable to find account by id {target.id}{where}")
        check_account_access(ctx, target)
        account_id = target.id
    stmt = select(Account).where(Account.removed.is_(None), Account.type != TYPE_PROJECT,
                                 Account.id != tenancy.SYSTEM_ACCOUNT_ID)
    if not is_admin:
        stmt = stmt.where(Account.type != 2)  # users never see domain-admin accounts
    if account_id is not None:
        stmt = stmt.where(Account.id == account_id)
    if domain is not None:
        if recursive:
            stmt = stmt.where(Account.domain_id.in_(
                select(Domain.id).where(Domain.path.startswith(domain.path, autoescape=True))))
        else:
            stmt = stmt.where(Account.domain_id == domain.id)
    if name is not None:
        stmt = stmt.where(Account.account_name == name)
    if p["accounttype"] is not None and p["accounttype"] in tenancy.ACCOUNT_TYPE_NAME:
        stmt = stmt.where(Account.type == p["accounttype"])
    if p["state"] is not None:
        stmt = stmt.where(func.lower(Account.state) == p["state"].lower())
    if p["iscleanuprequired"] is not None:
        stmt = stmt.where(Account.cleanup_needed.is_(p["iscleanuprequired"]))
    if p["apikeyaccess"] is not None:
        flag = api_key_access(p["apikeyaccess"])
        stmt = stmt.where(Account.api_key_access.is_(None) if flag is None
                          else Account.api_key_access.is_(flag))
    if p["keyword"]:
        like = f"%{p['keyword']}%"
        stmt = stmt.where(Account.account_name.like(like) | Account.state.like(like))
    return page_query(ctx, p, stmt.order_by(Account.id),
                      lambda a: account_view(db, a, details=details, full=ctx.is_root_admin))


# --- updateAccount / enableAccount / lockAccount -----------------------------------------

ACCOUNT_LOOKUP_PARAMS = (
    Param("account", description="Account name"),
    Param("domainid", "uuid", description="Domain ID of the account", entity=Domain,
          related="listDomains"),
    Param("id", "uuid", description="Account id", entity=Account, related="listAccounts"),
)
BOTH_REQUIRED = ("Both accountName and domainId are required for finding active account in "
                 "the system")


def require_lookup(p: Params) -> None:
    """getActiveAccountByName: without an id both the name and the domain are needed."""
    if p["id"] is None and (p["account"] is None or p["domainid"] is None):
        raise InvalidParameterValue(BOTH_REQUIRED)


def acl_check(ctx: CallContext, p: Params) -> None:
    """The @ACL(OperateEntry) on `id`: checked while the parameters are read, before any of
    the command's own rules."""
    if p["id"] is not None and p["id"].removed is None:
        check_account_access(ctx, p["id"], operate=True)


def lookup(ctx: CallContext, p: Params, *, enabled_only: bool = False) -> Account | None:
    """`id` wins; otherwise the live (or, for updates, enabled) account by name in the domain;
    project accounts are never found."""
    if p["id"] is not None:
        found: Account | None = p["id"] if p["id"].removed is None else None
    else:
        found = tenancy.active_account(ctx.db, p["account"], p["domainid"],
                                       enabled_only=enabled_only)
    return None if found is None or found.type == TYPE_PROJECT else found


def not_found(p: Params, prefix: str = "Unable to find account") -> InvalidParameterValue:
    domain: Domain | None = p["domainid"]
    return InvalidParameterValue(
        f"{prefix} by accountId: {tenancy.java(p['id'].id if p['id'] else None)} OR by name: "
        f"{tenancy.java(p['account'])} in domain {tenancy.java(domain.name if domain else None)}")


def check_operate(ctx: CallContext, account: Account) -> None:
    """checkAccess(caller, OperateEntry, account) then the role-type rules."""
    check_account_access(ctx, account, operate=True)
    tenancy.verify_caller_privilege(ctx, account)


@command(
    "updateAccount",
    description="Updates account information for the authenticated user",
    params=[
        *ACCOUNT_LOOKUP_PARAMS,
        Param("newname", description="new name for the account"),
        Param("networkdomain", description="Network domain for the account's networks; empty "
              "string will update domainName with NULL value"),
        Param("roleid", "uuid", description="The UUID of the dynamic role to set for the "
              "account", entity=Role, related="listRoles"),
        Param("accountdetails", "map", description="Details for the account used to store "
              "specific parameters"),
        Param("apikeyaccess", description="Determines if Api key access for this user is "
              "enabled, disabled or inherits the value from its parent, the domain level "
              "setting api.key.access", since="4.20.1.0", authorized=ROOT_ONLY),
    ],
    response=ACCOUNT,
    event=EventSpec("ACCOUNT.UPDATE", "updating account"),
)
def update_account(ctx: CallContext, p: Params) -> dict[str, Any]:
    db = ctx.db
    acl_check(ctx, p)
    require_lookup(p)
    account = lookup(ctx, p, enabled_only=True)
    if account is None:
        raise not_found(p)
    if account.id == tenancy.SYSTEM_ACCOUNT_ID:
        raise InvalidParameterValue("Can not modify system account")
    domain = db.get(Domain, account.domain_id)
    assert domain is not None
    check_domain_access(ctx, domain)
    tenancy.verify_caller_privilege(ctx, account)
    started(ctx, "Updating account", account)
    if p["apikeyaccess"] is not None:
        account.api_key_access = api_key_access(p["apikeyaccess"])
        events.record(db, ctx.pending_events, event_type="API.KEY.ACCESS.UPDATE",
                      description="Api key access was changed for the Account to "
                      f"{p['apikeyaccess'].upper()}", user=ctx.user, account=ctx.account,
                      resource_type="Account", resource_id=account.id,
                      resource_uuid=account.uuid)
    newname: str | None = p["newname"]
    if newname is not None:
        if newname == "":
            raise InvalidParameterValue(
                f"The new account name for account '{account.account_name}' within domain "
                f"'{domain.name}' is empty string. Account will be not renamed.")
        check_fits("updateAccount", newname, ACCOUNT_NAME_LENGTH, "newname")
        existing = tenancy.active_account(db, newname, domain)
        if existing is not None and existing.id != account.id:
            raise InvalidParameterValue(
                f"The account with the proposed name '{newname}' exists in the domain "
                f"'{domain.name}' with existing account {existing.account_name}")
    network = p["networkdomain"]
    if network and not tenancy.valid_network_domain(network):
        raise InvalidParameterValue(
            "Invalid network domain or format. Total length shouldn't exceed 190 chars. Every "
            "domain part must be between 1 and 63 characters long, can contain ASCII letters "
            "'a' through 'z', the digits '0' through '9', and the hyphen ('-'); can't start or "
            "end with \"-\"")
    if p["roleid"] is not None:
        change_role(ctx, account, domain, p["roleid"])
    if newname is not None:
        account.account_name = newname
    if network is not None:
        account.network_domain = network or None
    details = first_map_entry(p["accountdetails"])
    if details:
        save_details(ctx, account, details)
    db.flush()
    ctx.event_details.update(resource_type="Account", resource_id=account.id,
                             resource_uuid=account.uuid)
    return account_response(ctx, account)


def change_role(ctx: CallContext, account: Account, domain: Domain, role: Role) -> None:
    """validateRoleChange, then the account takes the role and the role's account type."""
    if role.removed is not None or role.id not in {r.id for r in tenancy.visible_roles(ctx)}:
        raise InvalidParameterValue(f"Role with ID '{role.id}' is not found or not available "
                                    f"for the account '{account.account_name}' in the domain "
                                    f"'{domain.name}'.")
    prefix = f"Unable to update account role to {role.name}, "
    caller_type = ctx.role_type
    if caller_type not in tenancy.ROLE_TYPE_ORDINAL:
        raise PermissionDenied(prefix + "as the caller privileges are unknown")
    if role.role_type not in tenancy.ROLE_TYPE_ORDINAL:
        raise PermissionDenied(prefix + "as the new role privileges are unknown")
    current = ctx.db.get(Role, account.role_id) if account.role_id else None
    mine = tenancy.ROLE_TYPE_ORDINAL[caller_type]
    current_ordinal = tenancy.ROLE_TYPE_ORDINAL.get(current.role_type if current else "", 3)
    if caller_type != "Admin" and (tenancy.ROLE_TYPE_ORDINAL[role.role_type] < mine
                                   or current_ordinal < mine):
        raise PermissionDenied(prefix + "as either current or new role has higher privileges "
                               "than the caller")
    if role.role_type == "Admin" and account.domain_id != tenancy.ROOT_DOMAIN_ID:
        raise PermissionDenied(prefix + "as the user does not belong to the ROOT domain")
    account.role_id = role.id
    account.type = tenancy.ACCOUNT_TYPE_OF_ROLE[role.role_type]
    tenancy.check_role_escalation(ctx, role.id)


def started(ctx: CallContext, description: str, account: Account) -> None:
    """Manager methods annotated async=true record a Started event even when the command
    itself is synchronous (ActionEventInterceptor.interceptStart)."""
    assert ctx.command is not None and ctx.command.event is not None
    record(ctx, ctx.command.event.type, description, "Account", account, state="Started")


@command(
    "enableAccount",
    description="Enables an account",
    params=list(ACCOUNT_LOOKUP_PARAMS),
    response=ACCOUNT,
    event=EventSpec("ACCOUNT.ENABLE", "enabling account"),
)
def enable_account(ctx: CallContext, p: Params) -> dict[str, Any]:
    acl_check(ctx, p)
    require_lookup(p)
    account = lookup(ctx, p)
    if account is None:
        raise not_found(p)
    if account.id == tenancy.SYSTEM_ACCOUNT_ID:
        raise PermissionDenied(f"Account: {account.account_name} is a system account, enable "
                               "is not allowed")
    check_operate(ctx, account)
    started(ctx, "Enabling account", account)
    account.state = "enabled"
    account.cleanup_needed = False
    ctx.db.flush()
    ctx.event_details.update(resource_type="Account", resource_id=account.id,
                             resource_uuid=account.uuid)
    return account_response(ctx, account)


@command(
    "lockAccount",
    description="This deprecated function used to locks an account. Look for the API "
    "DisableAccount instead",
    params=[
        Param("account", required=True, description="Locks the specified account."),
        Param("domainid", "uuid", True, "Locks the specified account on this domain.",
              entity=Domain, related="listDomains"),
    ],
    response=ACCOUNT,
)
def lock_account(ctx: CallContext, p: Params) -> dict[str, Any]:
    raise ServerError("LockAccount does not lock Accounts. Its implementation is disabled. Use "
                      "DisableAccount instead.")


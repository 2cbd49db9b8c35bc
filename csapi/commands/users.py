"""Users: createUser, listUsers, updateUser, enableUser, lockUser, deleteUser (this module),
disableUser and the API-key commands (user_keys.py) — AccountManagerImpl, QueryManagerImpl;
tenancy spec §3."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from csapi import events
from csapi.api.acl import check_account_access, check_domain_access, visibility
from csapi.api.context import TYPE_PROJECT, CallContext
from csapi.api.errors import (
    CloudRuntimeError,
    InvalidParameterValue,
    ParamError,
    PermissionDenied,
    too_long,
)
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ACL_LIST_PARAMS,
    ROOT_ONLY,
    EventSpec,
    Kind,
    ListResult,
    Param,
    SuccessResult,
    command,
)
from csapi.commands import tenancy
from csapi.commands.accounts import (
    TIMEZONE_LENGTH,
    allow_multiple_accounts,
    api_key_access,
    check_fits,
    create_user_row,
)
from csapi.commands.views import USER, user_view
from csapi.crypto import MAX_SECRET_LENGTH, check_password, hash_password
from csapi.db.models import Account, Domain, User

SAML_OR_LDAP = ("saml2", "saml2disabled", "ldap")
# The shared ACL list parameters, with `domainid` resolved to its Domain row.
LIST_USERS_ACL = tuple(dataclasses.replace(p, entity=Domain) if p.name == "domainid" else p
                       for p in ACL_LIST_PARAMS)
ACCOUNT_TYPE_BY_NAME = {name: number for number, name in tenancy.ACCOUNT_TYPE_NAME.items()}


def user_response(ctx: CallContext, user: User, account: Account | None = None) -> dict[str, Any]:
    return user_view(ctx.db, user, account, ctx.domain, full=ctx.is_root_admin)


def account_of(ctx: CallContext, user: User) -> Account:
    account = ctx.db.get(Account, user.account_id)
    if account is None:
        raise InvalidParameterValue(f"unable to find user account {user.account_id}")
    return account


def user_event(ctx: CallContext, user: User) -> None:
    ctx.event_details.update(resource_type="User", resource_id=user.id, resource_uuid=user.uuid)


# --- createUser -----------------------------------------------------------------------------

@command(
    "createUser",
    description="Creates a user for an account that already exists",
    params=[
        Param("account", required=True, description="Creates the user under the specified "
              "account. If no account is specified, the username will be used as the account "
              "name."),
        Param("domainid", "uuid", description="Creates the user under the specified domain. "
              "Has to be accompanied with the account parameter", entity=Domain,
              related="listDomains"),
        Param("email", required=True, description="email"),
        Param("firstname", required=True, description="firstname"),
        Param("lastname", required=True, description="lastname"),
        Param("password", required=True, description="Clear text password (Default hashed to "
              "SHA256SALT). If you wish to use any other hashing algorithm, you would need to "
              "write a custom authentication adapter See Docs section."),
        Param("timezone", description="Specifies a timezone for this command. For more "
              "information on the timezone parameter, see Time Zone Format."),
        Param("username", required=True, description="Unique username."),
        Param("userid", description="User UUID, required for adding account from external "
              "provisioning system"),
    ],
    response=USER,
    event=EventSpec("USER.CREATE", "creating User"),
)
def create_user(ctx: CallContext, p: Params) -> dict[str, Any]:
    db = ctx.db
    ctx.event_details["completed"] = (
        f"Successfully completed creating User. UserName: {p['username']}, FirstName :"
        f"{p['firstname']}, LastName: {p['lastname']}")
    if not p["password"]:
        raise ParamError("Empty passwords are not allowed")
    domain = p["domainid"] or db.get(Domain, tenancy.ROOT_DOMAIN_ID)
    assert domain is not None
    if domain.removed is not None:
        raise CloudRuntimeError(f"The domain {domain.id} does not exist; unable to create user")
    if domain.state.strip() == "Inactive":
        raise CloudRuntimeError(f"The user cannot be created as domain {domain.name} is being "
                                "deleted")
    check_domain_access(ctx, domain)
    account = tenancy.active_account(db, p["account"], domain, enabled_only=True)
    if account is None or account.type == TYPE_PROJECT:
        raise InvalidParameterValue(f"Unable to find account {p['account']} in domain "
                                    f"{domain.name} to create user")
    if account.id == tenancy.SYSTEM_ACCOUNT_ID:
        raise PermissionDenied(f"Account: {account.account_name} is a system account, can't "
                               "add a user to it")
    username: str = p["username"]
    if not allow_multiple_accounts(ctx, domain) and tenancy.username_taken_in_domain(
            db, username, domain.id):
        raise CloudRuntimeError(f"The user {username} already exists in domain {domain.id}")
    if _username_in_account(ctx, username, account):
        raise InvalidParameterValue(f"Username [{username}] already exists in account "
                                    f"[id={account.uuid},name={account.account_name}]")
    tenancy.verify_caller_privilege(ctx, account)
    user = create_user_row(ctx, account, p, p["userid"])
    user_event(ctx, user)
    return user_response(ctx, user, account)


def _username_in_account(ctx: CallContext, username: str, account: Account,
                         exclude: int | None = None) -> bool:
    stmt = select(User.id).where(User.account_id == account.id, User.removed.is_(None),
                                 User.username == username)
    if exclude is not None:
        stmt = stmt.where(User.id != exclude)
    return ctx.db.scalar(stmt.limit(1)) is not None


# --- listUsers ------------------------------------------------------------------------------

@command(
    "listUsers",
    description="Lists user accounts",
    params=[
        *LIST_USERS_ACL,
        Param("accounttype", "integer", description="List users by account type. Valid types "
              "include admin, domain-admin, read-only-admin, or user."),
        Param("id", "uuid", description="List user by ID.", entity=User),
        Param("state", description="List users by state of the user account."),
        Param("username", description="List user by the username"),
        Param("apikeyaccess", description="List users by the Api key access value",
              since="4.20.1.0", authorized=ROOT_ONLY),
        Param("showicon", "boolean", description="flag to display the resource icon for users"),
    ],
    response=USER,
    kind=Kind.LIST,
)
def list_users(ctx: CallContext, p: Params) -> ListResult:
    target: User | None = p["id"]
    if ctx.is_normal_user:
        # A user only ever sees himself.
        if target is not None and target.id != ctx.user.id:
            raise PermissionDenied("Calling user is not authorized to see the user requested "
                                   "by id")
        target = ctx.user
    vis = visibility(ctx, account=p["account"], domain=p["domainid"],
                     isrecursive=p["isrecursive"], listall=p["listall"],
                     id_given=target is not None)
    stmt: Any = select(User, Account).join(
        Account, Account.id == User.account_id).where(User.removed.is_(None),
                                                      Account.removed.is_(None))
    stmt = vis.apply(stmt, User.account_id, Account.domain_id)
    if target is not None:
        stmt = stmt.where(User.id == target.id, User.id != tenancy.SYSTEM_USER_ID)
    else:
        stmt = stmt.where(User.id != tenancy.SYSTEM_USER_ID)
    if p["username"] is not None:
        stmt = stmt.where(User.username == p["username"])
    if p["accounttype"] is not None:
        stmt = stmt.where(Account.type == p["accounttype"])
    if p["state"] is not None:
        stmt = stmt.where(User.state == p["state"])
    if p["apikeyaccess"] is not None:
        flag = api_key_access(p["apikeyaccess"])
        stmt = stmt.where(User.api_key_access.is_(None) if flag is None
                          else User.api_key_access.is_(flag))
    if p["keyword"]:
        like = f"%{p['keyword']}%"
        match = (User.username.like(like) | User.firstname.like(like)
                 | User.lastname.like(like) | User.email.like(like) | User.state.like(like)
                 | Account.account_name.like(like))
        if p["keyword"].upper() in ACCOUNT_TYPE_BY_NAME:
            match = match | (Account.type == ACCOUNT_TYPE_BY_NAME[p["keyword"].upper()])
        stmt = stmt.where(match)
    return page_query(ctx, p, stmt.order_by(User.id),
                      lambda row: user_response(ctx, row[0], row[1]))


# --- updateUser -----------------------------------------------------------------------------

@command(
    "updateUser",
    description="Updates a user account",
    params=[
        Param("id", "uuid", True, "User uuid", entity=User, related="listUsers"),
        Param("email", description="email"),
        Param("firstname", description="first name"),
        Param("lastname", description="last name"),
        Param("password", description="Clear text password (default hashed to SHA256SALT). If "
              "you wish to use any other hashing algorithm, you would need to write a custom "
              "authentication adapter. Can't be passed when command is executed via "
              "integration.api.port"),
        Param("currentpassword", description="Current password that was being used by the "
              "user. You must inform the current password when updating the password."),
        Param("timezone", description="Specifies a timezone for this command. For more "
              "information on the timezone parameter, see Time Zone Format."),
        Param("userapikey", description="The API key for the user. Must be specified with "
              "userSecretKey"),
        Param("username", description="Unique username"),
        Param("usersecretkey", description="The secret key for the user. Must be specified "
              "with userApiKey"),
        Param("mandate2fa", "boolean", description="Provide true to mandate the user to use "
              "two factor authentication code.", since="4.18.0.0"),
        Param("apikeyaccess", description="Determines if Api key access for this user is "
              "enabled, disabled or inherits the value from its parent, the owning account",
              since="4.20.1.0", authorized=ROOT_ONLY),
    ],
    response=USER,
    event=EventSpec("USER.UPDATE", "Updating User"),
)
def update_user(ctx: CallContext, p: Params) -> dict[str, Any]:
    db = ctx.db
    user: User = p["id"]
    user_event(ctx, user)
    if user.removed is not None:
        raise InvalidParameterValue(f"Unable to find user with id: {user.id}")
    account = account_of(ctx, user)
    if account.type == TYPE_PROJECT:
        raise InvalidParameterValue(f"Unable to find user with: {user.username}")
    if account.id == tenancy.SYSTEM_ACCOUNT_ID:
        raise PermissionDenied(f"user: {user.username} is a system account; update is not "
                               "allowed.")
    check_account_access(ctx, account, operate=True)
    tenancy.verify_caller_privilege(ctx, account, user)
    _update_keys(ctx, user, p["userapikey"], p["usersecretkey"])
    if p["apikeyaccess"] is not None:
        user.api_key_access = api_key_access(p["apikeyaccess"])
        events.record(db, ctx.pending_events, event_type="API.KEY.ACCESS.UPDATE",
                      description="Api key access was changed for the User to "
                      f"{p['apikeyaccess'].upper()}", user=ctx.user, account=ctx.account,
                      resource_type="User", resource_id=user.id, resource_uuid=user.uuid)
    for field, text in (("firstname", "Firstname"), ("lastname", "Lastname")):
        if p.values.get(field) is not None:
            if not p[field].strip():
                raise InvalidParameterValue(f"{text} cannot be empty.")
            setattr(user, field, p[field])
    if p.values.get("username") is not None:
        _rename(ctx, user, account, p["username"])
    if p.values.get("password") is not None:
        _change_password(ctx, user, p["password"], p["currentpassword"])
    if (p["email"] or "").strip():
        user.email = p["email"]
    if (p["timezone"] or "").strip():
        check_fits("updateUser", p["timezone"], TIMEZONE_LENGTH, "timezone")
        user.timezone = p["timezone"]
    db.flush()
    return user_response(ctx, user, account)


def _update_keys(ctx: CallContext, user: User, api_key: str | None, secret: str | None) -> None:
    """Both keys together, and an API key no other user holds."""
    blank_key, blank_secret = not (api_key or "").strip(), not (secret or "").strip()
    if blank_key != blank_secret:
        raise InvalidParameterValue("Please provide a userApiKey/userSecretKey pair")
    if blank_key:
        return
    # Its ciphertext must fit user.secret_key (varchar 255), as webhook secrets must.
    if secret is not None and len(secret.encode("utf-8")) > MAX_SECRET_LENGTH:
        raise too_long("updateUser", MAX_SECRET_LENGTH, "usersecretkey")
    holder = ctx.db.scalar(select(User.id).where(User.api_key == api_key))
    if holder is not None and holder != user.id:
        raise InvalidParameterValue(f"The API key [{api_key}] already exists in the system. "
                                    "Please provide a unique key.")
    user.api_key = api_key
    user.secret_key = ctx.state.secrets.encrypt(secret)


def _rename(ctx: CallContext, user: User, account: Account, username: str) -> None:
    if not username.strip():
        raise InvalidParameterValue("Username cannot be empty.")
    domain = ctx.db.get(Domain, account.domain_id)
    assert domain is not None
    if not allow_multiple_accounts(ctx, domain):
        other = tenancy.username_taken_in_domain(ctx.db, username, domain.id,
                                                 exclude_user=user.id)
        if other is not None:
            holder = account_of(ctx, other)
            raise InvalidParameterValue(
                f"Username [{username}] already exists in domain [id={domain.uuid},name="
                f"{domain.name}] user account [id={holder.uuid},name={holder.account_name}]")
    if _username_in_account(ctx, username, account, exclude=user.id):
        raise InvalidParameterValue(f"Username [{username}] already exists in account "
                                    f"[id={account.uuid},name={account.account_name}]")
    user.username = username


def _change_password(ctx: CallContext, user: User, password: str,
                     current: str | None) -> None:
    """Admins (root and domain) set passwords directly; everyone else proves the current
    one first."""
    if not password.strip():
        raise InvalidParameterValue("Password cannot be empty or blank.")
    if (user.source or "native").lower() in SAML_OR_LDAP:
        raise InvalidParameterValue("CloudStack does not support updating passwords for SAML or "
                                    "LDAP users. Please contact your cloud administrator for "
                                    "assistance.")
    is_admin = (ctx.account.id == tenancy.SYSTEM_ACCOUNT_ID or ctx.is_root_admin
                or ctx.account.type == 2)
    if not is_admin:
        if not (current or "").strip():
            raise InvalidParameterValue("To set a new password the current password must be "
                                        "provided.")
        if not check_password(current or "", user.password):
            raise InvalidParameterValue("Current password is incorrect.")
    user.password = hash_password(password)


# --- enableUser / lockUser / deleteUser ---------------------------------------------------

def checked_user(ctx: CallContext, user: User, action: str) -> Account:
    """enableUser/disableUser's checks: a live user outside projects and the system
    account, one the caller may operate on."""
    if user.removed is not None:
        raise InvalidParameterValue(f"Unable to find active user by id {user.id}")
    account = account_of(ctx, user)
    if account.type == TYPE_PROJECT:
        raise InvalidParameterValue(f"Unable to find active user {user.username}")
    if account.id == tenancy.SYSTEM_ACCOUNT_ID:
        raise InvalidParameterValue(f"User: {user.username} is a system user, {action} is not "
                                    "allowed")
    check_account_access(ctx, account, operate=True)
    tenancy.verify_caller_privilege(ctx, account, user)
    return account


@command(
    "enableUser",
    description="Enables a user account",
    params=[Param("id", "uuid", True, "Enables user by user ID.", entity=User,
                  related="listUsers")],
    response=USER,
    event=EventSpec("USER.ENABLE", "enabling User"),
)
def enable_user(ctx: CallContext, p: Params) -> dict[str, Any]:
    user: User = p["id"]
    user_event(ctx, user)
    account = checked_user(ctx, user, "enabling")
    user.state = "enabled"
    user.login_attempts = 0
    # ...and its account, as CloudStack does.
    account.state = "enabled"
    account.cleanup_needed = False
    ctx.db.flush()
    return user_response(ctx, user, account)


@command(
    "lockUser",
    description="Locks a user account",
    params=[Param("id", "uuid", True, "Locks user by user ID.", entity=User,
                  related="listUsers")],
    response=USER,
    event=EventSpec("USER.LOCK", "locking User"),
)
def lock_user(ctx: CallContext, p: Params) -> dict[str, Any]:
    db = ctx.db
    user: User = p["id"]
    user_event(ctx, user)
    if user.removed is not None:
        raise InvalidParameterValue("Unable to find user by id")
    account = account_of(ctx, user)
    if account.type == TYPE_PROJECT:
        raise InvalidParameterValue("Unable to find user by id")
    if account.id == tenancy.SYSTEM_ACCOUNT_ID:
        raise PermissionDenied(f"user: {user.username} is a system user, locking is not "
                               "allowed")
    check_account_access(ctx, account, operate=True)
    tenancy.verify_caller_privilege(ctx, account, user)
    if user.state == "locked":
        return user_response(ctx, user, account)
    if user.state != "enabled":
        raise CloudRuntimeError(f"Unable to lock user {user.username}")
    user.state = "locked"
    db.flush()
    still_enabled = db.scalar(select(User.id).where(
        User.account_id == account.id, User.removed.is_(None), User.state == "enabled"))
    if still_enabled is None:
        # The last enabled user locks the account too; only an enabled account can be locked.
        if account.state == "enabled":
            account.state = "locked"
        elif account.state != "locked":
            raise CloudRuntimeError(f"Unable to lock user {user.username}")
    db.flush()
    return user_response(ctx, user, account)


@command(
    "deleteUser",
    description="Deletes a user for an account",
    params=[Param("id", "uuid", True, "id of the user to be deleted", entity=User,
                  related="listUsers")],
    response=None,
    event=EventSpec("USER.DELETE", "deleting User"),
)
def delete_user(ctx: CallContext, p: Params) -> SuccessResult:
    user: User = p["id"]
    user_event(ctx, user)
    if user.removed is not None:
        raise InvalidParameterValue("The specified user doesn't exist in the system")
    if user.is_default:
        raise InvalidParameterValue("The user is default and can't be (re)moved")
    account = account_of(ctx, user)
    if user.id == ctx.user.id:
        domain = ctx.db.get(Domain, account.domain_id)
        assert domain is not None
        raise InvalidParameterValue(
            "The caller is requesting to delete itself. As a security measure, ACS will not "
            f"allow this operation. To delete user {user.username} (ID: {user.uuid}, Domain: "
            f"{domain.uuid}), request to another user with permission to execute the "
            "operation.")
    if account.type == TYPE_PROJECT:
        raise InvalidParameterValue("Project users cannot be deleted or moved.")
    check_account_access(ctx, account, operate=True)
    tenancy.verify_caller_privilege(ctx, account, user)
    user.removed = tenancy.now()
    ctx.db.flush()
    return SuccessResult()

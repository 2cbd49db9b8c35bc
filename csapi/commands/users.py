"""Users and their API keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from csapi.api.acl import check_account_access, visibility
from csapi.api.context import CallContext
from csapi.api.errors import InvalidParameterValue, PermissionDenied
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ACL_LIST_PARAMS,
    ALL_ROLES,
    EventSpec,
    Kind,
    ListResult,
    Param,
    command,
    obj,
)
from csapi.commands.views import USER, user_view
from csapi.crypto import new_api_key
from csapi.db.models import Account, User

USER_KEYS = obj(
    "userkeys",
    ("apikey", "string", "the api key of the registered user"),
    ("secretkey", "string", "the secret key of the registered user"),
)


def _user(ctx: CallContext, user: User | None, missing: str) -> tuple[User, Account]:
    if user is None or user.removed is not None:
        raise InvalidParameterValue(missing)
    account = ctx.db.get(Account, user.account_id)
    assert account is not None
    return user, account


@command(
    "registerUserKeys",
    description="This command allows a user to register for the developer API, returning a "
    "secret key and an API key. This request is made through the integration API port, so it "
    "is a privileged command and must be made on behalf of a user. It is up to the implementer "
    "just how the username and password are entered, and then how that translates to an "
    "integration API request. Both secret key and API key should be returned to the user",
    params=[Param("id", "uuid", True, "User id", entity=User, related="listUsers")],
    response=USER_KEYS,
    event=EventSpec("REGISTER.USER.KEY", "register for the developer API keys"),
)
def register_user_keys(ctx: CallContext, p: Params) -> dict[str, Any]:
    user, account = _user(ctx, p["id"], "unable to find user by id")
    if user.id == 1:
        raise PermissionDenied(f"user: {user.username} is system account, update is not "
                               "allowed")
    check_account_access(ctx, account, operate=True)
    api_key, secret = new_api_key(), new_api_key()
    user.api_key = api_key
    user.secret_key = ctx.state.secrets.encrypt(secret)
    ctx.event_details.update(resource_type="User", resource_id=user.id,
                             resource_uuid=user.uuid)
    return {"apikey": api_key, "secretkey": secret}


@command(
    "getUserKeys",
    description="This command allows the user to query the seceret and API keys for the "
    "account",
    params=[Param("id", "uuid", True, "ID of the user whose keys are required", entity=User,
                  related="listUsers")],
    response=USER_KEYS,
    since="4.10.0",
)
def get_user_keys(ctx: CallContext, p: Params) -> dict[str, Any]:
    user, account = _user(ctx, p["id"], "Unable to find user by id")
    check_account_access(ctx, account)
    if not ctx.is_root_admin and account.type == 1:
        raise PermissionDenied(f"Caller Username {ctx.user.username} does not have access to "
                               "root admin keys")
    secret = ctx.state.secrets.decrypt(user.secret_key) if user.secret_key else None
    return {"apikey": user.api_key, "secretkey": secret}


@command(
    "getUser",
    description="Find user account by API key",
    params=[Param("userapikey", required=True, description="API key of the user")],
    response=USER,
)
def get_user(ctx: CallContext, p: Params) -> dict[str, Any]:
    user = ctx.db.scalar(select(User).where(User.api_key == p["userapikey"]))
    if user is None:
        raise InvalidParameterValue("User with specified API key does not exist")
    account = ctx.db.get(Account, user.account_id)
    assert account is not None
    check_account_access(ctx, account)
    return user_view(ctx.db, user, account, ctx.domain)


@command(
    "listUsers",
    description="Lists user accounts",
    params=[
        *ACL_LIST_PARAMS,
        Param("id", "uuid", description="List user by ID.", entity=User),
        Param("username", description="List user by the username"),
        Param("accounttype", "integer", description="List users by account type. Valid types "
              "include admin, domain-admin, read-only-admin, or user."),
        Param("state", description="List users by state of the user account."),
    ],
    response=USER,
    kind=Kind.LIST,
    authorized=ALL_ROLES,
)
def list_users(ctx: CallContext, p: Params) -> ListResult:
    vis = visibility(ctx, account=p["account"], domain=p["domainid"],
                     isrecursive=p["isrecursive"], listall=p["listall"], id_given="id" in p)
    stmt = select(User, Account).join(Account, Account.id == User.account_id).where(
        User.removed.is_(None), Account.removed.is_(None), User.id != 1)
    stmt = vis.apply(stmt, User.account_id, Account.domain_id)
    if p["id"] is not None:
        stmt = stmt.where(User.id == p["id"].id)
    if p["username"]:
        stmt = stmt.where(User.username == p["username"])
    if p["accounttype"] is not None:
        stmt = stmt.where(Account.type == p["accounttype"])
    if p["state"]:
        stmt = stmt.where(User.state == p["state"])
    if p["keyword"]:
        like = f"%{p['keyword']}%"
        stmt = stmt.where(User.username.like(like) | User.firstname.like(like)
                          | User.lastname.like(like) | User.email.like(like))
    stmt = stmt.order_by(User.id)
    return page_query(ctx, p, stmt, lambda row: user_view(ctx.db, row[0], row[1], ctx.domain))

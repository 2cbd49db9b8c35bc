"""disableUser (asynchronous) and the API-key commands registerUserKeys, getUserKeys and getUser
(AccountManagerImpl; tenancy spec §3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from csapi.api.acl import check_account_access
from csapi.api.context import CallContext
from csapi.api.errors import InvalidParameterValue, PermissionDenied
from csapi.api.params import Params
from csapi.api.registry import EventSpec, Kind, Param, command, obj
from csapi.commands import tenancy
from csapi.commands.users import account_of, checked_user, user_event, user_response
from csapi.commands.views import USER
from csapi.crypto import new_api_key
from csapi.db.models import Account, User

USER_KEYS = obj(
    "userkeys",
    ("apikey", "string", "the api key of the registered user"),
    ("secretkey", "string", "the secret key of the registered user"),
)


def _disable_target(ctx: CallContext, p: Params) -> User:
    """On submission: the job's instance, the event owner (the user's account) and texts."""
    user: User = p["id"]
    owner = ctx.db.get(Account, user.account_id)
    ctx.event_details.update(description=f"disabling user: {user.uuid}", account=owner,
                             started="Disabling User")
    user_event(ctx, user)
    return user


@command(
    "disableUser",
    description="Disables a user account",
    params=[Param("id", "uuid", True, "Disables user by user ID.", entity=User,
                  related="listUsers")],
    response=USER,
    kind=Kind.ASYNC,
    event=EventSpec("USER.DISABLE", "disabling User"),
    instance_type="User",
    create=_disable_target,
)
def disable_user(ctx: CallContext, p: Params) -> dict[str, Any]:
    user: User = p["id"]
    account = checked_user(ctx, user, "disabling")
    user.state = "disabled"
    ctx.db.flush()
    return user_response(ctx, user, account)


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
    user: User = p["id"]
    if user.removed is not None:
        raise InvalidParameterValue("unable to find user by id")
    account = account_of(ctx, user)
    check_account_access(ctx, account)
    tenancy.verify_caller_privilege(ctx, account, user)
    if user.id == tenancy.SYSTEM_USER_ID:
        raise PermissionDenied(f"user: {user.username} is system account, update is not "
                               "allowed")
    # Both keys are new on every call; an API key is unique (CloudStack retries on a clash).
    api_key = new_api_key()
    while ctx.db.scalar(select(User.id).where(User.api_key == api_key)) is not None:
        api_key = new_api_key()
    secret = new_api_key()
    user.api_key = api_key
    user.secret_key = ctx.state.secrets.encrypt(secret)
    user_event(ctx, user)
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
    user: User = p["id"]
    if user.removed is not None:
        raise InvalidParameterValue("Unable to find user by id")
    account = account_of(ctx, user)
    # A domain admin of ROOT shares the root admins' domain but never their keys.
    if (ctx.account.type == 2 and ctx.account.domain_id == tenancy.ROOT_DOMAIN_ID
            and tenancy.is_root_admin_account(ctx.db, account)):
        raise PermissionDenied(f"Caller Username {ctx.user.username} does not have access to "
                               "root admin keys")
    check_account_access(ctx, account)
    tenancy.verify_caller_privilege(ctx, account, user)
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
    account = account_of(ctx, user)
    check_account_access(ctx, account)  # beyond CloudStack: no look-ups across tenants
    return user_response(ctx, user, account)

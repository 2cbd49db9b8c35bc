"""The asynchronous account commands: disableAccount (disable or lock) and deleteAccount
(AccountManagerImpl; tenancy spec §2)."""

from __future__ import annotations

from typing import Any

from csapi.api.acl import check_account_access
from csapi.api.context import CallContext
from csapi.api.errors import CloudRuntimeError, InvalidParameterValue, PermissionDenied
from csapi.api.params import Params
from csapi.api.registry import EventSpec, Kind, Param, SuccessResult, command
from csapi.commands import tenancy
from csapi.commands.accounts import (
    account_response,
    acl_check,
    check_operate,
    lookup,
    require_lookup,
)
from csapi.commands.views import ACCOUNT
from csapi.db.models import Account, Domain


def _system(ctx: CallContext) -> Account:
    system = ctx.db.get(Account, tenancy.SYSTEM_ACCOUNT_ID)
    assert system is not None
    return system


def _disable_target(ctx: CallContext, p: Params) -> Account | None:
    """On submission: the @ACL check of `id`, the event owner and the event texts."""
    acl_check(ctx, p)
    target: Account | None = p["id"] if p["id"] is not None and p["id"].removed is None else None
    if target is None:
        require_lookup(p)
        target = lookup(ctx, p)
    domain: Domain | None = p["domainid"]
    action = "locking account" if p["lock"] else "disabling account"
    detail = (f"Account Name: {tenancy.java(p['account'])}, Domain Id:"
              f"{tenancy.java(domain.id if domain else None)}")
    ctx.event_details.update(
        description=f"Disabling Account: {tenancy.java(p['account'])} in domain: "
        f"{tenancy.java(domain.uuid if domain else None)}",
        account=target or _system(ctx),
        started=f"{action.capitalize()}. {detail}",
        completed=f"Successfully completed {action}. {detail}",
        failed=f"Error while {action}. {detail}",
    )
    if target is not None:
        ctx.event_details.update(resource_type="Account", resource_uuid=target.uuid)
    return target


@command(
    "disableAccount",
    description="Disables an account",
    params=[
        Param("id", "uuid", description="Account id", entity=Account, related="listAccounts"),
        Param("account", description="Disables specified account."),
        Param("domainid", "uuid", description="Disables specified account in this domain.",
              entity=Domain, related="listDomains"),
        Param("lock", "boolean", True, "If true, only lock the account; else disable the "
              "account"),
    ],
    response=ACCOUNT,
    kind=Kind.ASYNC,
    event=EventSpec("ACCOUNT.DISABLE", "disabling account"),
    instance_type="Account",
    create=_disable_target,
)
def disable_account(ctx: CallContext, p: Params) -> dict[str, Any]:
    domain: Domain | None = p["domainid"]
    account = lookup(ctx, p)
    if p["lock"]:
        if account is None:
            raise InvalidParameterValue(
                "Unable to find active account by accountId: "
                f"{tenancy.java(p['id'].id if p['id'] else None)} OR by name: "
                f"{tenancy.java(p['account'])} in domain "
                f"{tenancy.java(domain.id if domain else None)}")
        verb = "lock"
    else:
        if account is None:
            raise _not_found(p)
        verb = "disable"
    if account.id == tenancy.SYSTEM_ACCOUNT_ID:
        raise PermissionDenied(f"Account: {account.account_name} is a system account, {verb} "
                               "is not allowed")
    check_operate(ctx, account)
    if p["lock"]:
        if account.state == "enabled":
            account.state = "locked"
        elif account.state != "locked":  # only an enabled account can be locked
            raise CloudRuntimeError(_failure("lock", account, p))
    elif account.id <= tenancy.ADMIN_ACCOUNT_ID:
        raise CloudRuntimeError(_failure("update", account, p))  # the default accounts
    elif account.state != "disabled" or account.cleanup_needed:
        account.state = "disabled"
        account.cleanup_needed = False  # nothing to stop: csapi runs no instances
    ctx.db.flush()
    return account_response(ctx, account)


def _not_found(p: Params) -> InvalidParameterValue:
    domain: Domain | None = p["domainid"]
    return InvalidParameterValue(
        f"Unable to find account by accountId: {tenancy.java(p['id'].id if p['id'] else None)}"
        f" OR by name: {tenancy.java(p['account'])} in domain "
        f"{tenancy.java(domain.name if domain else None)}")


def _failure(verb: str, account: Account, p: Params) -> str:
    domain: Domain | None = p["domainid"]
    return (f"Unable to {verb} account {account.account_name} by accountId: "
            f"{tenancy.java(p['id'].id if p['id'] else None)} OR by name: "
            f"{tenancy.java(p['account'])} in domain "
            f"{tenancy.java(domain.name if domain else None)}")


def _deletion_target(ctx: CallContext, p: Params) -> Account:
    account: Account = p["id"]
    live = account.removed is None
    if live:
        check_account_access(ctx, account, operate=True)  # the @ACL(OperateEntry) on `id`
    ctx.event_details.update(
        description=(f"Deleting user Account {account.account_name} (ID: {account.uuid}) and "
                     "all corresponding users") if live
        else "Cannot delete Account - it does not exist in the system",
        account=account if live else _system(ctx),
        resource_type="Account", resource_uuid=account.uuid,
    )
    return account


@command(
    "deleteAccount",
    description="Deletes a account, and all users associated with this account",
    params=[Param("id", "uuid", True, "Account id", entity=Account, related="listAccounts")],
    response=None,
    kind=Kind.ASYNC,
    event=EventSpec("ACCOUNT.DELETE", "deleting account"),
    instance_type="Account",
    create=_deletion_target,
)
def delete_account(ctx: CallContext, p: Params) -> SuccessResult:
    account: Account = p["id"]
    db = ctx.db
    if account.id == ctx.account.id:
        domain = db.get(Domain, account.domain_id)
        assert domain is not None
        raise InvalidParameterValue(
            f"Deletion of your own account is not allowed. To delete account "
            f"{account.account_name} (ID: {account.uuid}, Domain: {domain.uuid}), request to "
            "another user with permissions to perform the operation.")
    if account.removed is not None:
        return SuccessResult()  # already gone: nothing to do
    if account.type == 5:
        raise InvalidParameterValue("The specified account does not exist in the system")
    check_account_access(ctx, account)
    if account.default:
        raise InvalidParameterValue("The account is default and can't be removed")
    projects = tenancy.administered_project_ids(db, account.id)
    if projects:
        raise InvalidParameterValue(
            f"Unable to delete account [{account.id}], because it manages the following "
            f"project(s): [{', '.join(str(i) for i in projects)}]. Please, remove the account "
            "from these projects or demote it to a regular project role first.")
    tenancy.verify_caller_privilege(ctx, account)
    tenancy.remove_account(db, account)
    return SuccessResult()

"""Accounts."""

from __future__ import annotations

from sqlalchemy import select

from csapi.api.acl import visibility
from csapi.api.context import TYPE_PROJECT, CallContext
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import ACL_LIST_PARAMS, Kind, ListResult, Param, command
from csapi.commands.views import ACCOUNT, account_view
from csapi.db.models import Account


@command(
    "listAccounts",
    description="Lists accounts and provides detailed account information for listed accounts",
    params=[
        *ACL_LIST_PARAMS,
        Param("id", "uuid", description="list account by account ID", entity=Account),
        Param("name", description="list account by account name"),
        Param("accounttype", "long", description="list accounts by account type. Valid "
              "account types are 1 (admin), 2 (domain-admin), and 0 (user)."),
        Param("state", description="list accounts by state. Valid states are enabled, "
              "disabled, and locked."),
        Param("iscleanuprequired", "boolean", description="list accounts by cleanuprequired "
              "attribute (values are true or false)"),
    ],
    response=ACCOUNT,
    kind=Kind.LIST,
)
def list_accounts(ctx: CallContext, p: Params) -> ListResult:
    vis = visibility(ctx, account=p["account"], domain=p["domainid"],
                     isrecursive=p["isrecursive"], listall=p["listall"], id_given="id" in p)
    stmt = select(Account).where(Account.removed.is_(None), Account.type != TYPE_PROJECT,
                                 Account.id != 1)
    stmt = vis.apply(stmt, Account.id, Account.domain_id)
    if p["id"] is not None:
        stmt = stmt.where(Account.id == p["id"].id)
    if p["name"]:
        stmt = stmt.where(Account.account_name == p["name"])
    if p["accounttype"] is not None:
        stmt = stmt.where(Account.type == p["accounttype"])
    if p["state"]:
        stmt = stmt.where(Account.state == p["state"])
    if p["iscleanuprequired"] is not None:
        stmt = stmt.where(Account.cleanup_needed == p["iscleanuprequired"])
    if p["keyword"]:
        stmt = stmt.where(Account.account_name.like(f"%{p['keyword']}%"))
    return page_query(ctx, p, stmt.order_by(Account.id), lambda a: account_view(ctx.db, a))

"""Domains."""

from __future__ import annotations

from sqlalchemy import select

from csapi.api.acl import check_domain_access
from csapi.api.context import CallContext
from csapi.api.errors import InvalidParameterValue
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import Kind, ListResult, Param, command
from csapi.commands.views import DOMAIN, domain_view
from csapi.db.models import Domain


@command(
    "listDomains",
    description="Lists domains and provides detailed information for listed domains",
    params=[
        Param("id", "uuid", description="List domain by domain ID.", entity=Domain),
        Param("level", "integer", description="List domains by domain level."),
        Param("name", description="List domain by domain name."),
        Param("listall", "boolean", description="If set to false, list only resources "
              "belonging to the command's caller; if set to true - list resources that the "
              "caller is authorized to see. Default value is false"),
    ],
    response=DOMAIN,
    kind=Kind.LIST,
)
def list_domains(ctx: CallContext, p: Params) -> ListResult:
    stmt = select(Domain).where(Domain.removed.is_(None), Domain.state == "Active")
    if p["id"] is not None:
        domain = p["id"]
        if domain.removed is not None:
            raise InvalidParameterValue(f"Domain id={domain.uuid} doesn't exist")
        check_domain_access(ctx, domain)
        stmt = stmt.where(Domain.id == domain.id)
    elif not ctx.is_root_admin:
        if p["listall"]:
            stmt = stmt.where(Domain.path.startswith(ctx.domain.path))
        else:
            stmt = stmt.where(Domain.id == ctx.domain.id)
    if p["level"] is not None:
        stmt = stmt.where(Domain.level == p["level"])
    if p["name"]:
        stmt = stmt.where(Domain.name == p["name"])
    if p["keyword"]:
        stmt = stmt.where(Domain.name.like(f"%{p['keyword']}%"))
    return page_query(ctx, p, stmt.order_by(Domain.id), lambda d: domain_view(ctx.db, d))

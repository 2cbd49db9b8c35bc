"""Paging for list commands: `count` is the total, the page holds at most pagesize items
(default and maximum `default.page.size`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select

from csapi import settings
from csapi.api.context import CallContext
from csapi.api.params import Params, paging
from csapi.api.registry import ListResult

T = TypeVar("T")


def page_items(ctx: CallContext, p: Params, items: Sequence[T],
               render: Callable[[T], dict[str, Any]]) -> ListResult:
    page = paging(p, settings.value(ctx.db, "default.page.size"))
    end = None if page.limit is None else page.offset + page.limit
    return ListResult([render(i) for i in items[page.offset:end]], len(items))


def _paged(ctx: CallContext, p: Params, stmt: Select[Any],
           fetch: Callable[[Select[Any]], Sequence[Any]]) -> tuple[Sequence[Any], int]:
    """Count the whole selection, then `fetch` the page of it (`stmt` carries its ORDER BY)."""
    page = paging(p, settings.value(ctx.db, "default.page.size"))
    total = ctx.db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    if not total:
        return [], 0
    if page.limit is not None:
        stmt = stmt.offset(page.offset).limit(page.limit)
    return fetch(stmt), int(total)


def page_query(ctx: CallContext, p: Params, stmt: Select[Any],
               render: Callable[[Any], dict[str, Any]]) -> ListResult:
    """Count the whole selection, then fetch one page of it (`stmt` carries its ORDER BY)."""
    rows, total = _paged(ctx, p, stmt, lambda page: ctx.db.execute(page).all())
    return ListResult([render(r[0] if len(r) == 1 else r) for r in rows], total)


def page_by_id(ctx: CallContext, p: Params, ids: Select[Any],
               load: Callable[[list[Any]], Sequence[Any]],
               render: Callable[[Any], dict[str, Any]]) -> ListResult:
    """page_query for big tables: count and page over `ids` (a select of the primary key with
    its ORDER BY and only the joins its conditions need), then `load` the page's rows by key,
    in that order. Joining everything first and counting that lets the database pick a poor
    plan (MariaDB walked all events to count one webhook's deliveries)."""
    rows, total = _paged(ctx, p, ids, lambda page: load(list(ctx.db.scalars(page))))
    return ListResult([render(r) for r in rows], total)

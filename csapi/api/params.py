"""Request parameters: merging, map unpacking and typed conversion per declaration.

CloudStack's ParamUnpackWorker / ParamProcessWorker / ParamGenericValidationWorker rules:
names case-insensitive (except `command`), query string wins over the form body, `x[0].k=v`
maps, comma lists, control characters refused, lengths and number formats checked, UUIDs
resolved to entities (removed ones included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from sqlalchemy import select
from sqlalchemy.orm import Session

from csapi.api.errors import (
    MALFORMED_PARAMETER_ERROR,
    ApiError,
    ParamError,
    invalid_value,
    missing_parameter,
    too_long,
    unknown_uuid,
)
from csapi.api.registry import Command, Kind, Param

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAP_KEY = re.compile(r"^([^\[\].]+)\[(\d+)\]\.([^\[\]]+)$")
INT_RANGES = {"integer": 2**31, "short": 2**15, "long": 2**63}


def split_query(query: str) -> list[tuple[str, str]]:
    """Decode a query string into (raw name, value) pairs; items without '=' are ignored."""
    pairs = []
    for item in query.split("&"):
        if "=" not in item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote_plus(name, errors="replace"),
                      unquote_plus(value, errors="replace")))
    return pairs


def merge(form: list[tuple[str, str]], query: list[tuple[str, str]]) -> dict[str, str]:
    """The servlet parameter map: first form value per name, then query values overwrite
    (the last duplicate in the query wins)."""
    merged: dict[str, str] = {}
    for name, value in form:
        merged.setdefault(name, value)
    for name, value in query:
        merged[name] = value
    return merged


def get_ci(raw: dict[str, str], name: str) -> str | None:
    """Case-insensitive lookup of one raw parameter."""
    if name in raw:
        return raw[name]
    lname = name.lower()
    for key, value in raw.items():
        if key.lower() == lname:
            return value
    return None


@dataclass
class Params:
    """Typed parameters of one call; absent parameters read as None."""

    values: dict[str, Any] = field(default_factory=dict)
    # Lower-cased raw strings, for async jobs that re-parse in their own transaction.
    raw: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) is not None


def unpack(raw: dict[str, str], command_name: str) -> tuple[dict[str, str], dict[str, dict]]:
    """Lower-case names and gather `name[i].field=value` entries into maps."""
    flat: dict[str, str] = {}
    maps: dict[str, dict[int, dict[str, str]]] = {}
    for name, value in raw.items():
        if "[" in name or "]" in name:
            m = _MAP_KEY.match(name)
            if not m:
                bad = name.split("[", 1)[0].lower() or name
                raise ApiError(
                    MALFORMED_PARAMETER_ERROR,
                    f"Unable to decode parameter {bad}; if specifying an object array, please "
                    "use parameter[index].field=XXX, e.g. userGroupList[0].group=httpGroup",
                )
            base, index, key = m.group(1).lower(), int(m.group(2)), m.group(3)
            maps.setdefault(base, {}).setdefault(index, {})[key] = value
        else:
            flat[name.lower()] = value
    return flat, maps


def check_control_chars(flat: dict[str, str], maps: dict[str, dict]) -> None:
    for name, value in flat.items():
        if _CONTROL.search(value):
            raise ParamError("Received value containing illegal ASCII non-printable characters "
                             f"for parameter {name}")
    for name, entries in maps.items():
        for entry in entries.values():
            if any(_CONTROL.search(v) or _CONTROL.search(k) for k, v in entry.items()):
                raise ParamError("Received value containing illegal ASCII non-printable "
                                 f"characters for parameter {name}")


def parse_date(command: str, value: str) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ParamError(f"Unable to parse date {value} for command {command.lower()}, please pass "
                     "dates in the format mentioned in the api documentation")


def resolve_uuid(db: Session, command: str, param: Param, value: str) -> Any:
    if param.entity is None:
        return value
    if value == "-1" and param.name == "projectid":
        return -1
    if not UUID_RE.match(value):
        if param.since:
            return None  # CloudStack quirk: non-UUID strings on newer parameters are ignored
        raise unknown_uuid(command, param.name, value)
    entity = db.scalar(select(param.entity).where(param.entity.uuid == value))
    if entity is None:
        raise unknown_uuid(command, param.name, value)
    return entity


def convert(db: Session, command: Command, param: Param, value: Any) -> Any:
    name = command.name
    if param.type == "map":
        return value  # {index: {field: value}}
    assert isinstance(value, str)
    if param.type in ("integer", "long", "short"):
        if value.strip() == "":
            return None
        try:
            number = int(value.strip())
        except ValueError:
            raise invalid_value(name, value, param.name) from None
        limit = INT_RANGES[param.type]
        if not -limit <= number < limit:
            raise invalid_value(name, value, param.name)
        return number
    if param.type in ("float", "double"):
        if value.strip() == "":
            return None
        try:
            return float(value)
        except ValueError:
            raise invalid_value(name, value, param.name) from None
    if param.type == "boolean":
        return value.strip().lower() == "true"
    if param.type == "date":
        return parse_date(name, value)
    if len(value) > param.length:
        raise too_long(name, param.length, param.name)
    if param.type == "uuid":
        return resolve_uuid(db, name, param, value)
    if param.type == "list":
        items = [v for v in value.split(",") if v != ""]
        if param.element == "uuid":
            resolved = [resolve_uuid(db, name, param, v) for v in items]
            return [r for r in resolved if r is not None]
        return items
    return value


def parse(
    db: Session,
    command: Command,
    flat: dict[str, str],
    maps: dict[str, dict],
    role_type: str,
) -> Params:
    values: dict[str, Any] = {}
    for param in command.params:
        if param.authorized is not None and role_type not in param.authorized:
            continue  # role-restricted parameters are silently dropped
        raw: Any = maps.get(param.name) if param.type == "map" else flat.get(param.name)
        if raw is None or (param.required and raw == ""):
            if param.required:
                raise missing_parameter(command.name, param.name)
            continue
        converted = convert(db, command, param, raw)
        if converted is None and param.required:
            raise missing_parameter(command.name, param.name)
        values[param.name] = converted
    if command.kind is Kind.LIST:
        check_paging(values)
    return Params(values=values, raw=dict(flat))


def check_paging(values: dict[str, Any]) -> None:
    page, pagesize = values.get("page"), values.get("pagesize")
    if pagesize == -1 and page is not None:
        raise ParamError("Can't specify page parameter when pagesize is -1 (Unlimited)")
    if pagesize is not None and pagesize != -1 and page is None:
        raise ParamError('"page" parameter is required when "pagesize" is specified')
    if page is not None and pagesize is None:
        raise ParamError('"pagesize" parameter is required when "page" is specified')


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int | None


def paging(params: Params, max_page_size: int) -> Page:
    page, pagesize = params["page"], params["pagesize"]
    if pagesize == -1:
        return Page(0, None)
    if pagesize is not None and max_page_size != -1 and pagesize > max_page_size:
        raise ParamError(f"Page size can't exceed max allowed page size value: {max_page_size}")
    size = pagesize if pagesize is not None and pagesize > 0 else max_page_size
    if size == -1:
        return Page(0, None)
    start = max((page or 1), 1) - 1
    return Page(start * size, size)

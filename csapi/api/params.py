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
from urllib.parse import unquote_to_bytes

from sqlalchemy import select
from sqlalchemy.orm import Session

from csapi.api.errors import (
    MALFORMED_PARAMETER_ERROR,
    ApiError,
    InvalidParameterValue,
    ParamError,
    invalid_value,
    missing_parameter,
    too_long,
    unknown_uuid,
)
from csapi.api.registry import Command, Kind, Param

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
INT_RANGES = {"integer": 2**31, "short": 2**15, "long": 2**63}


def split_query(query: bytes | str) -> list[tuple[str, str]]:
    """Decode a query string (or form body) into (raw name, value) pairs, as the servlet
    does: `+` is a space, %XX escapes are UTF-8 bytes, items without '=' are ignored."""
    data = query.encode("utf-8") if isinstance(query, str) else query
    pairs = []
    for item in data.split(b"&"):
        if b"=" not in item:
            continue
        name, _, value = item.partition(b"=")
        pairs.append((_decode(name), _decode(value)))
    return pairs


def _decode(part: bytes) -> str:
    # Percent-decode to bytes first, then read them as UTF-8 (bad sequences become U+FFFD).
    return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8", "replace")


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
    """ParamUnpackWorker: lower-case names and gather `name[i].field=value` entries into
    {name: {i: {field: value}}}; malformed keys are a 430 naming the key as sent."""
    flat: dict[str, str] = {}
    maps: dict[str, dict[int, dict[str, str]]] = {}
    for key, value in raw.items():
        start = key.find("[")
        if start != key.rfind("["):
            raise _malformed(key)
        if start <= 0:  # no '[' (or one at the very start): an ordinary parameter
            flat[key.lower()] = value
            continue
        end = key.find("]")
        if end < start or end != key.rfind("]") or key.find(".") < end:
            raise _malformed(key)
        index = _java_int(key[start + 1:end])
        if index is None:
            raise _malformed(key)
        field_name = key[key.find(".") + 1:]
        maps.setdefault(key[:start].lower(), {}).setdefault(index, {})[field_name] = value
    return flat, maps


def _malformed(key: str) -> ApiError:
    return ApiError(
        MALFORMED_PARAMETER_ERROR,
        f"Unable to decode parameter {key}; if specifying an object array, please use "
        "parameter[index].field=XXX, e.g. userGroupList[0].group=httpGroup",
    )


def _java_int(text: str) -> int | None:
    """Integer.parseInt: optional sign, ASCII digits, 32-bit range."""
    if not _JAVA_INT.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**31) <= number < 2**31 else None


def check_control_chars(raw: dict[str, str]) -> None:
    """ApiServer.checkCharacterInkParams: every value (except `activationrule`), reported
    under the parameter name as it was sent."""
    for name, value in raw.items():
        if name != "activationrule" and _CONTROL.search(value):
            raise ParamError("Received value containing illegal ASCII non-printable characters "
                             f"for parameter {name}")


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
    model: Any = param.entity
    entity = db.scalar(select(model).where(model.uuid == value))
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
        if not _JAVA_INT.fullmatch(value):  # Long.valueOf: no spaces, '_' or non-ASCII digits
            raise invalid_value(name, value, param.name)
        number = int(value)
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
    if pagesize is not None and pagesize != -1 and page is None:
        raise ParamError('"page" parameter is required when "pagesize" is specified')
    if page is not None and pagesize is None:
        raise ParamError('"pagesize" parameter is required when "page" is specified')
    if pagesize == -1 and page is not None:
        # BaseListCmd.getPageSize: an InvalidParameterValueException (cserrorcode 4350).
        raise InvalidParameterValue("Can't specify page parameter when pagesize is -1 "
                                    "(Unlimited)")


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int | None


def paging(params: Params, max_page_size: int) -> Page:
    page, pagesize = params["page"], params["pagesize"]
    # BaseListCmd.getPageSize: InvalidParameterValueExceptions (cserrorcode 4350).
    if pagesize is not None and max_page_size != -1 and pagesize > max_page_size:
        raise InvalidParameterValue(
            f"Page size can't exceed max allowed page size value: {max_page_size}")
    if pagesize == -1:
        return Page(0, None)
    size = pagesize if pagesize is not None and pagesize > 0 else max_page_size
    if size == -1:
        return Page(0, None)
    start = max((page or 1), 1) - 1
    return Page(start * size, size)

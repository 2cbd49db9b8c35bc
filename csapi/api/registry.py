"""The command registry: each API command is declared exactly once.

A declaration names the command, its parameters, its response object, its kind (sync, list,
async, async-create), the roles it is authorized for, its `since` and its handler. Dispatch,
parameter parsing, role checks, `listApis` and the docs all read these declarations.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from csapi.db.models import Domain, Project

# Role types (RoleType.java), used in `authorized` sets.
ADMIN = "Admin"
RESOURCE_ADMIN = "ResourceAdmin"
DOMAIN_ADMIN = "DomainAdmin"
USER = "User"
ALL_ROLES = frozenset({ADMIN, RESOURCE_ADMIN, DOMAIN_ADMIN, USER})
ADMINS = frozenset({ADMIN, DOMAIN_ADMIN})
ROOT_ONLY = frozenset({ADMIN})

PARAM_TYPES = frozenset(
    {"string", "uuid", "boolean", "integer", "long", "short", "float", "double", "date",
     "list", "map", "object"}
)


class Kind(enum.Enum):
    SYNC = "sync"
    LIST = "list"
    ASYNC = "async"
    ASYNC_CREATE = "async_create"


@dataclass(frozen=True)
class Field:
    """One field of a response object, in wire order."""

    name: str
    type: str = "string"
    description: str = ""
    object: ResponseObject | None = None  # for lists/objects of sub-objects


@dataclass(frozen=True)
class ResponseObject:
    """A response object (`webhook`, `account`, ...) and its fields in wire order."""

    name: str
    fields: tuple[Field, ...]

    def render(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Order `values` as declared and drop nulls; undeclared keys are a programming error."""
        declared = {f.name: f for f in self.fields}
        unknown = set(values) - set(declared)
        if unknown:
            raise KeyError(f"{self.name}: undeclared response fields {sorted(unknown)}")
        out: dict[str, Any] = {}
        for f in self.fields:
            value = values.get(f.name)
            if value is None:
                continue
            if f.object is not None:
                if isinstance(value, list):
                    value = [f.object.render(v) for v in value]
                else:
                    value = f.object.render(value)
            out[f.name] = value
        return out


def obj(name: str, *fields: Field | tuple[str, str] | tuple[str, str, str]) -> ResponseObject:
    """Shorthand: obj("webhook", ("id", "string", "the ID"), ...)."""
    built = tuple(f if isinstance(f, Field) else Field(*f) for f in fields)
    return ResponseObject(name, built)


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"
    required: bool = False
    description: str = ""
    length: int = 255
    # For uuid (and list of uuid) parameters: the model the UUID resolves to.
    entity: builtins.type | None = None
    since: str | None = None
    # Role types allowed to pass this parameter; others have it silently dropped.
    authorized: frozenset[str] | None = None
    related: str | None = None
    # For list parameters: the type of each element ("uuid" resolves against `entity`).
    element: str = "string"

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"parameter {self.name}: unknown type {self.type}")
        if self.name != self.name.lower():
            raise ValueError(f"parameter {self.name}: names are lower case")


@dataclass(frozen=True)
class SuccessResult:
    success: bool = True
    displaytext: str | None = None


@dataclass
class ListResult:
    items: list[dict[str, Any]]
    count: int


@dataclass(frozen=True)
class EventSpec:
    """The ActionEvent a command records: type and CloudStack's description."""

    type: str
    description: str
    create_description: str | None = None  # async-create commands: the Created event


Handler = Callable[..., Any]


@dataclass
class Command:
    name: str
    handler: Handler
    description: str
    params: tuple[Param, ...]
    response: ResponseObject | None  # None: SuccessResponse
    kind: Kind = Kind.SYNC
    authorized: frozenset[str] = ALL_ROLES
    since: str | None = None
    event: EventSpec | None = None
    # async commands: the job's `jobinstancetype` and, for async-create, the create phase.
    instance_type: str | None = None
    create: Handler | None = None
    response_name: str = ""
    # Answer the object's fields directly in the envelope (queryAsyncJobResult, login).
    flat: bool = False
    params_by_name: dict[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.response_name:
            self.response_name = self.name.lower() + "response"
        seen: dict[str, Param] = {}
        for p in self.params:
            if p.name in seen:
                raise ValueError(f"{self.name}: parameter {p.name} declared twice")
            seen[p.name] = p
        self.params_by_name = seen
        if self.kind is Kind.ASYNC_CREATE and self.create is None:
            raise ValueError(f"{self.name}: async-create commands need a create phase")

    @property
    def is_async(self) -> bool:
        return self.kind in (Kind.ASYNC, Kind.ASYNC_CREATE)


# Parameters every list command inherits (BaseListCmd).
LIST_PARAMS = (
    Param("keyword", description="List by keyword"),
    Param("page", "integer"),
    Param("pagesize", "integer"),
)
# BaseListDomainResourcesCmd / BaseListAccountResourcesCmd.
ACL_LIST_PARAMS = (
    Param("account", description="list resources by account. Must be used with the domainId "
          "parameter."),
    Param("domainid", "uuid", description="list only resources belonging to the domain "
          "specified", related="listDomains", entity=Domain),
    Param("isrecursive", "boolean", description="defaults to false, but if true, lists all "
          "resources from the parent specified by the domainId till leaves."),
    Param("listall", "boolean", description="If set to false, list only resources belonging "
          "to the command's caller; if set to true - list resources that the caller is "
          "authorized to see. Default value is false"),
)
PROJECT_PARAM = Param("projectid", "uuid", description="list objects by project; if projectid=-1 "
                      "lists All VMs", related="listProjects", entity=Project)

REGISTRY: dict[str, Command] = {}


def command(
    name: str,
    *,
    description: str,
    params: Iterable[Param] = (),
    response: ResponseObject | None = None,
    kind: Kind = Kind.SYNC,
    authorized: frozenset[str] = ALL_ROLES,
    since: str | None = None,
    event: EventSpec | None = None,
    instance_type: str | None = None,
    create: Handler | None = None,
    response_name: str = "",
    flat: bool = False,
) -> Callable[[Handler], Handler]:
    """Declare a command; the decorated function is its handler."""

    def register(handler: Handler) -> Handler:
        all_params = tuple(params)
        if kind is Kind.LIST:
            names = {p.name for p in all_params}
            all_params += tuple(p for p in LIST_PARAMS if p.name not in names)
        cmd = Command(
            name=name, handler=handler, description=description, params=all_params,
            response=response, kind=kind, authorized=authorized, since=since, event=event,
            instance_type=instance_type, create=create, response_name=response_name,
            flat=flat,
        )
        if name in REGISTRY:
            raise ValueError(f"command {name} declared twice")
        REGISTRY[name] = cmd
        return handler

    return register


def load_commands() -> dict[str, Command]:
    """Import every module under csapi.commands (and csapi.webhooks.commands) once."""
    import importlib
    import pkgutil

    import csapi.commands

    for mod in pkgutil.iter_modules(csapi.commands.__path__):
        importlib.import_module(f"csapi.commands.{mod.name}")
    try:
        importlib.import_module("csapi.webhooks.commands")
    except ModuleNotFoundError as exc:
        if exc.name != "csapi.webhooks.commands":
            raise
    return REGISTRY


def format_date(value: datetime) -> str:
    """CloudStack API dates: yyyy-MM-dd'T'HH:mm:ssZ, server time zone UTC."""
    return value.strftime("%Y-%m-%dT%H:%M:%S+0000")

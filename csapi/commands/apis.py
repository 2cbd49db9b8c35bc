"""listApis and listCapabilities, generated from the command registry."""

from __future__ import annotations

from typing import Any

from csapi import settings
from csapi.api.acl import is_api_allowed
from csapi.api.context import CallContext
from csapi.api.errors import ServerError
from csapi.api.listing import page_items
from csapi.api.params import Params
from csapi.api.registry import (
    REGISTRY,
    Command,
    Field,
    Kind,
    ListResult,
    Param,
    ResponseObject,
    command,
    obj,
)
from csapi.api.serialize import CLOUDSTACK_VERSION

API_PARAM = obj(
    "params",
    ("name", "string", "the api parameter name"),
    ("description", "string", "description of the api parameter"),
    ("type", "string", "parameter type"),
    ("length", "integer", "length of the parameter"),
    ("required", "boolean", "true if this parameter is required for the api request"),
    ("since", "string", "version of CloudStack the api was introduced in"),
    ("related", "string", "comma separated related apis to get the parameter"),
)
API_RESPONSE_FIELD = ResponseObject("response", (
    Field("name", "string", "the name of the api response field"),
    Field("description", "string", "description of the api response field"),
    Field("type", "string", "response field type"),
))
API_RESPONSE = ResponseObject("response", API_RESPONSE_FIELD.fields + (
    Field("response", "list", "api response fields", API_RESPONSE_FIELD),
))
API = ResponseObject("api", (
    Field("name", "string", "the name of the api command"),
    Field("description", "string", "description of the api"),
    Field("since", "string", "version of CloudStack the api was introduced in"),
    Field("isasync", "boolean", "true if api is asynchronous"),
    Field("related", "string", "comma separated related apis"),
    Field("params", "list", "the list params the api accepts", API_PARAM),
    Field("response", "list", "api response fields", API_RESPONSE),
    Field("type", "string", "response field type"),
))


def _fields(response: ResponseObject | None) -> list[dict[str, Any]]:
    if response is None:
        return [
            {"name": "success", "description": "true if operation is executed successfully",
             "type": "boolean"},
            {"name": "displaytext", "description": "any text associated with the success or "
             "failure", "type": "string"},
        ]
    out = []
    for f in response.fields:
        item: dict[str, Any] = {"name": f.name, "description": f.description, "type": f.type}
        if f.object is not None:
            item["response"] = [
                {"name": s.name, "description": s.description, "type": s.type}
                for s in f.object.fields
            ]
        out.append(item)
    return out


def _related(cmd: Command) -> str | None:
    if cmd.response is None:
        return None
    names = sorted(
        other.name for other in REGISTRY.values()
        if other is not cmd and other.response is cmd.response
    )
    return ",".join(names) or None


def describe(cmd: Command) -> dict[str, Any]:
    params = [
        {"name": p.name, "description": p.description, "type": p.type, "length": p.length,
         "required": p.required, "since": p.since, "related": p.related}
        for p in cmd.params
    ]
    return {
        "name": cmd.name, "description": cmd.description, "since": cmd.since,
        "isasync": cmd.is_async, "related": _related(cmd), "params": params,
        "response": _fields(cmd.response),
    }


@command(
    "listApis",
    description="lists all available apis on the server, provided by the Api Discovery plugin",
    params=[Param("name", description="API name")],
    response=API,
    kind=Kind.LIST,
    since="4.1.0",
)
def list_apis(ctx: CallContext, p: Params) -> ListResult:
    visible = [c for c in REGISTRY.values() if is_api_allowed(ctx.db, ctx.role, c)]
    if p["name"]:
        visible = [c for c in visible if c.name == p["name"]]
        if not visible:
            raise ServerError("Api Discovery plugin was unable to find an api by that name or "
                              "process any apis")
    return page_items(ctx, p, sorted(visible, key=lambda c: c.name), describe)


CAPABILITY = obj(
    "capability",
    ("securitygroupsenabled", "boolean", "true if security groups support is enabled"),
    ("dynamicrolesenabled", "boolean", "true if dynamic role-based api checker is enabled"),
    ("cloudstackversion", "string", "version of the cloud stack"),
    ("userpublictemplateenabled", "boolean", "true if user can create public templates"),
    ("supportELB", "string", "true if region supports elastic load balancer on basic zones"),
    ("projectinviterequired", "boolean", "If invitation confirmation is required when add "
     "account to project"),
    ("allowusercreateprojects", "boolean", "true if regular user is allowed to create "
     "projects"),
    ("customdiskofferingminsize", "long", "minimum size that can be specified for custom disk "
     "offerings"),
    ("customdiskofferingmaxsize", "long", "maximum size that can be specified for custom disk "
     "offerings"),
    ("regionsecondaryenabled", "boolean", "true if region wide secondary is enabled"),
    ("kvmsnapshotenabled", "boolean", "true if snapshot is supported for KVM host"),
    ("allowuserviewdestroyedvm", "boolean", "true if the user is allowed to view destroyed "
     "virtualmachines"),
    ("allowuserexpungerecovervm", "boolean", "true if the user can recover and expunge "
     "virtualmachines"),
    ("allowuserviewalldomainaccounts", "boolean", "true if users can see all accounts within "
     "the same domain"),
    ("kubernetesserviceenabled", "boolean", "true if Kubernetes Service plugin is enabled"),
    ("defaultuipagesize", "long", "default page size in the UI for various views"),
)


@command(
    "listCapabilities",
    description="Lists capabilities",
    response=CAPABILITY,
)
def list_capabilities(ctx: CallContext, p: Params) -> dict[str, Any]:
    return {
        "securitygroupsenabled": False, "dynamicrolesenabled": True,
        "cloudstackversion": CLOUDSTACK_VERSION, "userpublictemplateenabled": True,
        "supportELB": "false",
        "projectinviterequired": settings.value(ctx.db, "project.invite.required"),
        "allowusercreateprojects": settings.value(ctx.db, "allow.user.create.projects"),
        "customdiskofferingminsize": 1, "customdiskofferingmaxsize": 1024,
        "regionsecondaryenabled": False, "kvmsnapshotenabled": False,
        "allowuserviewdestroyedvm": False, "allowuserexpungerecovervm": False,
        "allowuserviewalldomainaccounts": False, "kubernetesserviceenabled": False,
        "defaultuipagesize": 20,
    }

"""listConfigurations, updateConfiguration, resetConfiguration.

Global values live in `configuration`, Domain/Account values in `domain_details` /
`account_details` (ConfigurationManagerImpl, ConfigurationListingServiceImpl). Released
CloudStack's setting names are accepted as aliases of the design document's canonical names.
Domain admins act on their own domain subtree and users on their own account, as CloudStack
4.18+ lets them; settings of the System category (and the webhook destination policy) stay
root-admin only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from csapi import settings
from csapi.api.acl import check_account_access, check_domain_access
from csapi.api.context import CallContext
from csapi.api.errors import (
    ApiError,
    CloudRuntimeError,
    InvalidParameterValue,
    ParamError,
    unknown_uuid,
)
from csapi.api.params import Page, Params, paging
from csapi.api.registry import (
    ALL_ROLES,
    ROOT_ONLY,
    EventSpec,
    Field,
    Kind,
    ListResult,
    Param,
    ResponseObject,
    command,
)
from csapi.db.models import Account, AccountDetail, Configuration, DataCenter, Domain, DomainDetail
from csapi.seed import now
from csapi.settings import ACCOUNT, DOMAIN, GLOBAL, ZONE, Setting

CONFIGURATION = ResponseObject("configuration", (
    Field("category", "string", "the category of the configuration"),
    Field("group", "string", "the group of the configuration"),
    Field("subgroup", "string", "the subgroup of the configuration"),
    Field("name", "string", "the name of the configuration"),
    Field("value", "string", "the value of the configuration"),
    Field("defaultvalue", "string", "the default value of the configuration"),
    Field("scope", "string", "scope(zone/cluster/pool/account) of the parameter that needs to "
          "be updated"),
    Field("id", "long", "the value of the configuration"),
    Field("description", "string", "the description of the configuration"),
    Field("isdynamic", "boolean", "true if the configuration is dynamic"),
    Field("component", "string", "the component of the configuration"),
    Field("parent", "string", "the name of the parent configuration"),
    Field("displaytext", "string", "the display text of the configuration"),
    Field("type", "string", "the type of the configuration value"),
    Field("options", "string", "the possible options of the configuration value"),
))

MULTIPLE_IDS = "cannot handle multiple IDs, provide only one ID corresponding to the scope"
# listConfigurations' own default page size (ListCfgsByCmd.getPageSizeVal).
LIST_DEFAULT_PAGE_SIZE = 500


def _scope_params(verb: str, image_store: str) -> list[Param]:
    what = f"the ID of the {{}} to {verb} the parameter value for corresponding {{}}"
    return [
        Param("zoneid", "uuid", description=what.format("Zone", "zone"), entity=DataCenter,
              related="listZones"),
        Param("clusterid", "uuid", description=what.format("Cluster", "cluster")),
        Param("storageid", "uuid", description=what.format("Storage pool", "storage pool")),
        Param("accountid", "uuid", description=what.format("Account", "account"),
              entity=Account, related="listAccounts"),
        Param("domainid", "uuid", description=what.format("Domain", "domain"), entity=Domain,
              related="listDomains"),
        Param(image_store, "uuid", description=what.format("Image Store", "image store")),
    ]


# Scopes csapi has no entities for: any id given is an unknown UUID, as in CloudStack.
_NO_ENTITY = ("clusterid", "storageid", "imagestoreuuid", "imagestoreid")


@dataclass
class Target:
    scope: str  # GLOBAL, ZONE, DOMAIN or ACCOUNT
    domain: Domain | None = None
    account: Account | None = None
    zone: DataCenter | None = None


def resolve_target(ctx: CallContext, p: Params, command_name: str, *,
                   default_to_caller: bool,
                   error: Callable[[str], ApiError] = InvalidParameterValue) -> Target:
    """The one scope id of the call (CloudStack's paramCountCheck), access-checked.

    List and update default a domain admin to its own domain and a user to its own account."""
    for name in _NO_ENTITY:
        if p[name] is not None:
            raise unknown_uuid(command_name, name, p[name])
    account: Account | None = p["accountid"]
    domain: Domain | None = p["domainid"]
    if default_to_caller:
        if ctx.is_domain_admin and account is None and domain is None:
            domain = ctx.domain
        elif ctx.is_normal_user and account is None:
            account = ctx.account
    targets: list[Target] = []
    if p["zoneid"] is not None:
        targets.append(Target(ZONE, zone=p["zoneid"]))
    if account is not None:
        check_account_access(ctx, account)
        targets.append(Target(ACCOUNT, account=account))
    if domain is not None:
        check_domain_access(ctx, domain)
        targets.append(Target(DOMAIN, domain=domain))
    if len(targets) > 1:
        raise error(MULTIPLE_IDS)
    return targets[0] if targets else Target(GLOBAL)


def find_setting(name: str) -> Setting:
    setting = settings.resolve(name)
    if setting is None:
        raise InvalidParameterValue(f"Config parameter with name {name} doesn't exist")
    return setting


def shown(ctx: CallContext, setting: Setting, value: str | None) -> str | None:
    """Hidden and Secure values never leave the server in clear (CloudStack encrypts them)."""
    if value is not None and setting.encrypted:
        return ctx.state.secrets.encrypt(value)
    return value


def config_view(ctx: CallContext, setting: Setting, value: str | None,
                scope: str | None = None) -> dict[str, Any]:
    return {
        "category": setting.category, "group": setting.group, "subgroup": setting.subgroup,
        "name": setting.name, "value": shown(ctx, setting, value),
        "defaultvalue": shown(ctx, setting, setting.default), "scope": scope,
        "description": setting.description, "isdynamic": setting.dynamic,
        "component": setting.component, "parent": setting.parent,
        "displaytext": setting.display_text, "type": setting.type_name,
        "options": ",".join(setting.options) or None,
    }


def scoped_value(db: Session, setting: Setting, target: Target) -> str | None:
    """The effective value in the target scope (with fall-back); the global row otherwise."""
    if target.scope == DOMAIN:
        assert target.domain is not None
        return settings.raw_value(db, setting.name, domain_id=target.domain.id)
    if target.scope == ACCOUNT:
        assert target.account is not None
        return settings.raw_value(db, setting.name, account_id=target.account.id)
    return settings.stored_global(db, setting)


def _scopes_listed(db: Session, scope: str) -> set[str] | None:
    """Which settings a listing with a scope id shows (None: every one): those of that scope,
    and Account ones in a domain listing when `enable.account.settings.for.domain` is on."""
    if scope == GLOBAL:
        return None
    if scope == DOMAIN and settings.value(db, "enable.account.settings.for.domain"):
        return {DOMAIN, ACCOUNT}
    return {scope}


def _matches(setting: Setting, stored: str | None, p: Params) -> bool:
    names = [setting.name, *setting.aliases]
    if p["name"] is not None and not any(p["name"].lower() in n.lower() for n in names):
        return False
    if p["category"] is not None and setting.category != p["category"]:
        return False
    if p["keyword"] is not None:
        # A secret's value is never searchable (that would be an oracle for it).
        value = "" if setting.encrypted else stored or ""
        haystack = [*names, "DEFAULT", setting.component, setting.description,
                    setting.category, value]
        if not any(p["keyword"].lower() in h.lower() for h in haystack):
            return False
    if p["group"] is not None and setting.group.lower() != p["group"].lower():
        return False
    if p["subgroup"] is not None and setting.subgroup.lower() != p["subgroup"].lower():
        return False
    return p["parent"] is None or setting.parent == p["parent"]


def _check_groups(p: Params) -> None:
    if p["subgroup"] and not p["group"]:
        raise ParamError("Configuration group name must be specified with the subgroup name")
    declared = settings.SETTINGS.values()
    if p["group"] is not None and p["group"].lower() not in {s.group.lower() for s in declared}:
        raise ParamError(f"Invalid configuration group: {p['group']}")
    if p["subgroup"] is not None and p["subgroup"].lower() not in {
            s.subgroup.lower() for s in declared}:
        raise ParamError(f"Invalid configuration subgroup: {p['subgroup']}")


@command(
    "listConfigurations",
    description="Lists all configurations.",
    params=[
        Param("category", description="lists configurations by category"),
        Param("name", description="lists configuration by name"),
        *_scope_params("update", "imagestoreuuid"),
        Param("group", description="lists configuration by group name (primarily used for UI)",
              since="4.18.0"),
        Param("subgroup", description="lists configuration by subgroup name (primarily used "
              "for UI)", since="4.18.0"),
        Param("parent", description="lists configuration by parent name (primarily used for "
              "UI)", since="4.18.0"),
    ],
    response=CONFIGURATION,
    kind=Kind.LIST,
    authorized=ALL_ROLES,
)
def list_configurations(ctx: CallContext, p: Params) -> ListResult:
    _check_groups(p)
    target = resolve_target(ctx, p, "listConfigurations", default_to_caller=True,
                            error=ParamError)
    rows = {r.name: r.value for r in ctx.db.scalars(select(Configuration))}
    scopes = _scopes_listed(ctx.db, target.scope)
    found = []
    for setting in sorted(settings.SETTINGS.values(), key=lambda s: s.name):
        stored = rows.get(setting.name, setting.default)
        if setting.category == "Hidden" or (scopes is not None and setting.scope not in scopes):
            continue
        if _matches(setting, stored, p):
            found.append(setting)
    page = _page(ctx, p)
    end = None if page.limit is None else page.offset + page.limit
    scope = None if target.scope == GLOBAL else target.scope.lower()
    items = [config_view(ctx, s, scoped_value(ctx.db, s, target), scope)
             for s in found[page.offset:end]]
    # With a scope id CloudStack counts the page only; with a group, everything listed.
    count = len(items) if target.scope != GLOBAL or p["group"] else len(found)
    return ListResult(items, count)


def _page(ctx: CallContext, p: Params) -> Page:
    if p["group"]:
        return Page(0, None)
    if p["pagesize"] is None:
        return Page(0, LIST_DEFAULT_PAGE_SIZE)
    return paging(p, settings.value(ctx.db, "default.page.size"))


# --- updates ---------------------------------------------------------------------------------

def _require_live(target: Target) -> None:
    if target.domain is not None and target.domain.removed is not None:
        raise InvalidParameterValue(f"unable to find domain by id {target.domain.id}")
    if target.account is not None and target.account.removed is not None:
        raise InvalidParameterValue(f"Unable to find Account by id {target.account.id}")


def store(db: Session, setting: Setting, target: Target, value: str | None) -> None:
    """Write the value for the target scope: a detail row, or the global row."""
    if target.scope == ZONE:
        raise InvalidParameterValue("Scope provided is invalid")  # no Zone settings exist
    if target.scope == DOMAIN:
        assert target.domain is not None and value is not None
        _put_detail(db, DomainDetail, DomainDetail.domain_id, target.domain.id, setting.name,
                    value)
        return
    if target.scope == ACCOUNT:
        assert target.account is not None and value is not None
        _put_detail(db, AccountDetail, AccountDetail.account_id, target.account.id,
                    setting.name, value)
        return
    row = db.get(Configuration, setting.name)
    if row is None:
        row = Configuration(name=setting.name, category=setting.category, instance="DEFAULT",
                            component=setting.component, default_value=setting.default,
                            description=setting.description, scope=setting.scope,
                            is_dynamic=setting.dynamic)
        db.add(row)
    row.value = value
    row.updated = now()


def _put_detail(db: Session, model: Any, owner_col: Any, owner_id: int, name: str,
                value: str) -> None:
    rows = list(db.scalars(select(model).where(owner_col == owner_id, model.name == name)
                           .order_by(model.id)))
    if not rows:
        db.add(model(**{owner_col.key: owner_id, "name": name, "value": value}))
    else:
        rows[0].value = value
        for extra in rows[1:]:  # never leave two competing rows behind
            db.delete(extra)
    db.flush()


def _event_value(setting: Setting, value: str | None) -> str:
    if setting.encrypted or "password" in setting.name.lower():
        return "*****"
    return value or ""


def _check_editable(ctx: CallContext, setting: Setting) -> None:
    if setting.editable_by_root_only and not ctx.is_root_admin:
        raise CloudRuntimeError("Only Root Admin is allowed to edit this configuration.")


ROLE_TYPES = ("Admin", "ResourceAdmin", "DomainAdmin", "User")


def _check_default_admin_only(ctx: CallContext, setting: Setting, value: str | None) -> None:
    """validateConfigurationAllowedOnlyForDefaultAdmin: the default admin (user 2) only, and
    the role-type list must name real role types."""
    if not setting.default_admin_only:
        return
    if ctx.user.id != 2:
        raise CloudRuntimeError("Only default admin is allowed to change this setting")
    if setting.name == "role.types.allowed.for.operations.on.accounts.of.same.role.type":
        if not value or not value.strip():
            raise CloudRuntimeError("Value for role types must not be empty")
        if not all(v.strip() in ROLE_TYPES for v in value.split(",")):
            raise CloudRuntimeError("Invalid role types provided in value")


def normalise(setting: Setting, raw: str, target: Target) -> str | None:
    """CloudStack: trimmed; empty or "null" clears (NULL globally, "" in a detail row)."""
    value = raw.strip()
    if value in ("", "null"):
        return None if target.scope == GLOBAL else ""
    return value.lower() if setting.type is bool else value


@command(
    "updateConfiguration",
    description="Updates a configuration.",
    params=[
        Param("name", required=True, description="the name of the configuration"),
        Param("value", description="the value of the configuration", length=4096),
        *_scope_params("update", "imagestoreuuid"),
    ],
    response=CONFIGURATION,
    authorized=ALL_ROLES,
    event=EventSpec("CONFIGURATION.VALUE.EDIT", "updating configuration"),
)
def update_configuration(ctx: CallContext, p: Params) -> dict[str, Any]:
    setting = find_setting(p["name"])
    if p["value"] is not None:
        _check_editable(ctx, setting)
    target = resolve_target(ctx, p, "updateConfiguration", default_to_caller=True)
    scope = None if target.scope == GLOBAL else target.scope.lower()
    if p["value"] is None:
        # Nothing to change: answer the current value, record nothing.
        ctx.event_details["skip"] = True
        return config_view(ctx, setting, scoped_value(ctx.db, setting, target), scope)
    value = normalise(setting, p["value"], target)
    _check_default_admin_only(ctx, setting, value)
    if not settings.allows_scope(ctx.db, setting, target.scope):
        raise InvalidParameterValue(f"Invalid scope id provided for the parameter {setting.name}")
    error = settings.validation_error(setting, value)
    if error is not None:
        raise InvalidParameterValue(error)
    _require_live(target)
    store(ctx.db, setting, target, value)
    shown_value = _event_value(setting, value)
    if target.scope == GLOBAL:
        details = f" Name: {setting.name} New Value: {shown_value}"
    else:
        owner = target.domain or target.account
        assert owner is not None
        details = f" Name: {setting.name}, New Value: {shown_value}, Scope: {target.scope}"
        ctx.event_details.update(resource_type=target.scope, resource_id=owner.id,
                                 resource_uuid=owner.uuid)
    ctx.event_details["completed"] = f"Successfully completed updating configuration. {details}"
    return config_view(ctx, setting, value, scope)


@command(
    "resetConfiguration",
    description="Resets a configuration. The configuration will be set to default value for "
    "global setting, and removed from account_details or domain_details for Account/Domain "
    "settings",
    params=[
        Param("name", required=True, description="the name of the configuration"),
        *_scope_params("reset", "imagestoreid"),
    ],
    response=CONFIGURATION,
    authorized=ROOT_ONLY,
    since="4.16.0",
    event=EventSpec("CONFIGURATION.VALUE.EDIT", "resetting configuration"),
)
def reset_configuration(ctx: CallContext, p: Params) -> dict[str, Any]:
    setting = find_setting(p["name"])
    target = resolve_target(ctx, p, "resetConfiguration", default_to_caller=False)
    if not settings.allows_scope(ctx.db, setting, target.scope):
        raise InvalidParameterValue(f"Invalid scope id provided for the parameter {setting.name}")
    if target.domain is not None:
        if target.domain.removed is not None:
            raise InvalidParameterValue(f"unable to find domain by id {target.domain.id}")
        ctx.db.execute(delete(DomainDetail).where(DomainDetail.domain_id == target.domain.id,
                                                  DomainDetail.name == setting.name))
    elif target.account is not None:
        if target.account.removed is not None:
            raise InvalidParameterValue(f"unable to find account by id {target.account.id}")
        ctx.db.execute(delete(AccountDetail).where(
            AccountDetail.account_id == target.account.id, AccountDetail.name == setting.name))
    else:
        store(ctx.db, setting, target, setting.default)
    owner = target.domain or target.account
    if owner is not None:
        ctx.event_details.update(resource_type=target.scope, resource_id=owner.id,
                                 resource_uuid=owner.uuid)
    ctx.event_details["completed"] = (
        "Successfully completed resetting configuration.  Name: "
        f"{setting.name} New Value: {_event_value(setting, setting.default)}")
    # ResetCfgCmd names the scope with ConfigKey.Scope's own (capitalised) names.
    scope = None if target.scope == GLOBAL else target.scope
    return config_view(ctx, setting, scoped_value(ctx.db, setting, target), scope)

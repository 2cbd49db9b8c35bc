"""Settings: each declared once; the `configuration` table, listConfigurations and the typed
lookups all read these declarations.

Scoped values live in `domain_details` / `account_details` and fall back as CloudStack's
ConfigKey.valueInScope does (protocol spec §9): account -> (the account's domain chain, only
with `enable.account.settings.for.domain`) -> global -> default; domain -> (its parents, only
with `enable.domain.settings.for.child.domain`) -> global -> default. Every lookup reads the
database, so dynamic settings apply on the next use without a restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from csapi.db import hold
from csapi.db.models import Account, AccountDetail, Configuration, Domain, DomainDetail
from csapi.webhooks.policy import parse_blocklist

GLOBAL, ZONE, DOMAIN, ACCOUNT = "Global", "Zone", "Domain", "Account"
# Categories whose values CloudStack stores encrypted and never shows in clear.
ENCRYPTED_CATEGORIES = frozenset({"Hidden", "Secure"})
# Only the root admin may change these (CloudStack's `System` category rule).
SYSTEM_CATEGORY = "System"

_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?$")


@dataclass(frozen=True)
class Setting:
    name: str
    type: type  # str, int, float, bool
    default: str
    scope: str = GLOBAL
    category: str = "Advanced"
    dynamic: bool = True
    description: str = ""
    component: str = "ManagementServer"
    aliases: tuple[str, ...] = ()
    # CloudStack's ConfigKey.Kind (CSV, Select, Order) and the options of a Select.
    kind: str | None = None
    options: tuple[str, ...] = ()
    # Integers: the smallest accepted value.
    min_value: int | None = None
    # Only the root admin may change it, whatever the scope (destination policy, API access).
    root_only: bool = False
    # Only the default admin (user id 2) may change it (configKeysAllowedOnlyForDefaultAdmin).
    default_admin_only: bool = False
    # Extra validation of a non-empty value: raises ValueError with the API error text.
    check: Callable[[str], object] | None = None
    group: str = "Miscellaneous"
    subgroup: str = "Others"
    parent: str | None = None

    def parse(self, raw: str | None) -> Any:
        if raw is None:
            raw = self.default
        if self.type is bool:
            return raw.strip().lower() == "true"
        if self.type is int:
            return int(raw)
        if self.type is float:
            return float(raw)
        return raw

    @property
    def type_name(self) -> str:
        if self.kind:
            return self.kind
        return {bool: "Boolean", int: "Number", float: "Decimal"}.get(self.type, "String")

    @property
    def encrypted(self) -> bool:
        return self.category in ENCRYPTED_CATEGORIES

    @property
    def editable_by_root_only(self) -> bool:
        return self.root_only or self.category == SYSTEM_CATEGORY

    @property
    def display_text(self) -> str:
        """CloudStack's default display text: dots become spaces, first letter upper-case."""
        text = self.name.replace(".", " ")
        return text[:1].upper() + text[1:]


SETTINGS: dict[str, Setting] = {}
ALIASES: dict[str, str] = {}


def declare(*settings: Setting) -> None:
    for s in settings:
        for name in (s.name, *s.aliases):
            if name in SETTINGS or name in ALIASES:
                raise ValueError(f"setting {name} declared twice")
        SETTINGS[s.name] = s
        for alias in s.aliases:
            ALIASES[alias] = s.name


def resolve(name: str) -> Setting | None:
    """A setting by its canonical name or by an alias (released CloudStack's names)."""
    return SETTINGS.get(name) or SETTINGS.get(ALIASES.get(name, ""))


def _check_encoding(value: str) -> None:
    if value not in ("hex", "base64"):
        raise ValueError("The provided value is not a valid value for this configuration "
                         "(Options are: [hex, base64]).")


declare(
    # Platform settings CloudStack clients and the API layer rely on.
    Setting("default.page.size", int, "500", description="Default page size for API list "
            "calls", component="ManagementService"),
    Setting("enable.domain.settings.for.child.domain", bool, "false", description="Indicates "
            "whether the settings of parent domain should be applied for child domain. If true, "
            "the child domain will get value from parent domain if its not configured in child "
            "domain else global value is taken."),
    Setting("enable.account.settings.for.domain", bool, "false", description="Indicates "
            "whether to add account settings for domain. If true, account settings will be "
            "added to domain settings, all accounts in the domain will inherit the domain "
            "setting if account setting is not configured."),
    Setting("publish.action.events", bool, "true", description="enable or disable publishing "
            "of action events on the event bus"),
    Setting("incorrect.login.attempts.allowed", int, "5", description="Incorrect login "
            "attempts allowed before the user is disabled"),
    Setting("session.timeout", int, "1800", category="Advanced", dynamic=False,
            description="Session timeout in seconds"),
    Setting("allow.user.create.projects", bool, "true", description="If regular user can "
            "create a project; true by default"),
    Setting("project.invite.required", bool, "false", description="If invitation confirmation "
            "is required when add account to project. Default value is false"),
    # CloudStack 4.20: Domain scope, category System ("Editable only by Root Admin").
    Setting("api.key.access", bool, "true", scope=DOMAIN, category=SYSTEM_CATEGORY,
            description="Determines whether API (api-key/secret-key) access is allowed or not. "
            "Editable only by Root Admin."),
    Setting("enforce.post.requests.and.timestamps", bool, "false", description="Enable/Disable "
            "whether the ApiServer only accepts POST requests and requires timestamps."),
    # Webhooks: the design document's names are canonical, released CloudStack's are aliases.
    Setting("webhook.delivery.timeout", int, "10", scope=DOMAIN, description="Wait timeout (in "
            "seconds) for a webhook delivery", component="webhook", min_value=1),
    Setting("webhook.delivery.tries", int, "3", scope=DOMAIN, description="Number of tries to "
            "be made for a webhook delivery", component="webhook", min_value=1),
    Setting("webhook.dispatch.thread.pool.size", int, "5", dynamic=False, description="Size "
            "of the worker pool for webhook deliveries", component="webhook",
            aliases=("webhook.delivery.thread.pool.size",), min_value=1),
    Setting("webhook.dispatch.history.limit", int, "100", description="Limit for the number of "
            "deliveries to keep in history per webhook", component="webhook",
            aliases=("webhook.deliveries.limit",), min_value=0),
    Setting("webhook.dispatch.history.cleanup.interval", int, "3600", dynamic=False,
            description="Interval (in seconds) for cleaning up webhook delivery history",
            component="webhook", aliases=("webhook.deliveries.cleanup.interval",), min_value=1),
    Setting("webhook.deliveries.cleanup.initial.delay", int, "180", dynamic=False,
            description="Initial delay (in seconds) for the webhook delivery history cleanup "
            "task", component="webhook", min_value=0),
    Setting("webhook.signature.encoding", str, "hex", scope=DOMAIN, description="Encoding of "
            "the X-CS-Signature header: hex (lower-case) or base64", component="webhook",
            kind="Select", options=("hex", "base64"), check=_check_encoding),
    Setting("webhook.delivery.standard.headers", bool, "true", scope=DOMAIN, description="Also "
            "send the Standard Webhooks headers webhook-id, webhook-timestamp and "
            "webhook-signature when the webhook has a secret", component="webhook"),
    Setting("webhook.delivery.retry.backoff", int, "0", scope=DOMAIN, description="Seconds to "
            "wait before the second try, doubling for each further try (with +/-20% jitter); "
            "0 tries back to back", component="webhook", min_value=0),
    # The destination policy guards the management servers' network (SSRF): Domain-scoped so
    # the root admin can tune it per tenant, but never editable by a domain admin.
    Setting("webhook.delivery.allow.http", bool, "true", scope=DOMAIN, description="Allow "
            "plain HTTP webhook payload URLs", component="webhook", root_only=True),
    Setting("webhook.delivery.allow.redirects", bool, "false", scope=DOMAIN, description="Follow "
            "HTTP redirects from webhook receivers; every hop is checked against the "
            "destination policy", component="webhook", root_only=True),
    Setting("webhook.delivery.blocklist", str,
            "0.0.0.0/8,169.254.0.0/16,224.0.0.0/4,240.0.0.0/4,fe80::/10,ff00::/8",
            scope=DOMAIN, description="Comma-separated CIDRs that webhook deliveries may not "
            "reach (checked on every resolved address)", component="webhook", kind="CSV",
            root_only=True, check=parse_blocklist),
    Setting("webhook.delivery.block.local.addresses", bool, "false", description="Refuse "
            "webhook destinations that are loopback, unspecified, link-local or an address of "
            "this management server", component="webhook"),
)


# Tenancy: who may create and operate on accounts and users (AccountManagerImpl, QueryService).
declare(
    Setting("user.allow.multiple.accounts", bool, "false", scope=DOMAIN, description="Determines "
            "if the same username can be added to more than one account in the same domain "
            "(SAML-only)."),
    Setting("role.types.allowed.for.operations.on.accounts.of.same.role.type", str,
            "Admin, ResourceAdmin, DomainAdmin", scope=DOMAIN, category="Hidden",
            default_admin_only=True,
            description="Comma separated list of role types that are allowed to do operations "
            "on accounts or users of the same role type within a domain."),
    Setting("allow.operations.on.users.in.same.account", bool, "true", scope=DOMAIN,
            category="Hidden", description="Allow operations on users among them in the same "
            "account"),
    Setting("allow.user.view.all.domain.accounts", bool, "false", scope=DOMAIN,
            description="Determines whether users can view all user accounts within the same "
            "level of domain"),
)


# --- validation (ConfigurationManagerImpl.validateConfigurationValue) ------------------------

def validation_error(setting: Setting, value: str | None) -> str | None:
    """CloudStack's text for a value the setting can't take, or None when it is valid.

    `value` is already normalised: None for an emptied global value, "" for an emptied scoped
    one (both as CloudStack's updateConfiguration)."""
    name = setting.name
    if setting.type is bool:
        if value not in ("true", "false"):
            return "Please enter either 'true' or 'false'."
        return None
    if setting.type is int:
        if value is None or not _INTEGER.match(value) or not -2**31 <= int(value) < 2**31:
            return (f"There was error in trying to parse value: {_java(value)}. Please enter a "
                    f"valid integer value for parameter {name}")
        if setting.min_value is not None and int(value) < setting.min_value:
            if setting.min_value > 0:
                return f"Please enter a positive value for the configuration parameter:{name}"
            return f"Please enter a non-negative value for the configuration parameter:{name}"
        return None
    if setting.type is float:
        if value is None or not _DECIMAL.match(value):
            return (f"There was error in trying to parse value: {_java(value)}. Please enter a "
                    f"valid float value for parameter {name}")
        return None
    if value is not None and setting.check is not None:
        try:
            setting.check(value)
        except ValueError as exc:
            return str(exc)
    return None


def _java(value: str | None) -> str:
    return "null" if value is None else value


def allows_scope(session: Session, setting: Setting, scope: str) -> bool:
    """May a value be stored for `scope`? Account settings may also be set per domain when
    `enable.account.settings.for.domain` is on."""
    if scope == GLOBAL or scope == setting.scope:
        return True
    return (scope == DOMAIN and setting.scope == ACCOUNT
            and bool(value(session, "enable.account.settings.for.domain")))


# --- lookups ---------------------------------------------------------------------------------

def preload(session: Session, names: Collection[str]) -> None:
    """Read the global rows of several settings with one query and hold them for the
    transaction (a request asks for a few of them one by one: the signature check, API key
    access, event publishing, page size)."""
    hold(session, *session.scalars(select(Configuration).where(Configuration.name.in_(names))))


def stored_global(session: Session, setting: Setting) -> str | None:
    row = session.get(Configuration, setting.name)
    hold(session, row)  # asked again in this transaction: no second read
    return row.value if row is not None else setting.default


def _domain_detail(session: Session, domain_id: int, name: str) -> str | None:
    return session.scalar(
        select(DomainDetail.value).where(
            DomainDetail.domain_id == domain_id, DomainDetail.name == name
        ).order_by(DomainDetail.id.desc()).limit(1)
    )


def _account_detail(session: Session, account_id: int, name: str) -> str | None:
    return session.scalar(
        select(AccountDetail.value).where(
            AccountDetail.account_id == account_id, AccountDetail.name == name
        ).order_by(AccountDetail.id.desc()).limit(1)
    )


def _domain_chain_value(session: Session, domain_id: int, name: str) -> str | None:
    """domain_details of the domain, then (when enabled) of each parent up to ROOT."""
    walk = value(session, "enable.domain.settings.for.child.domain")
    current: int | None = domain_id
    while current is not None:
        found = _domain_detail(session, current, name)
        if found is not None or not walk:
            return found
        current = session.scalar(select(Domain.parent).where(Domain.id == current))
    return None


def raw_value(
    session: Session,
    name: str,
    *,
    domain_id: int | None = None,
    account_id: int | None = None,
) -> str | None:
    """The effective stored string of a setting in a scope, with CloudStack's fall-back.

    A Domain setting asked for an account reads the account's domain (Account's parent scope
    is Domain); an Account setting asked for a domain reads that domain's chain."""
    setting = resolve(name)
    if setting is None:
        raise KeyError(name)
    if setting.scope == ACCOUNT and account_id is not None:
        found = _account_detail(session, account_id, setting.name)
        if found is not None:
            return found
        if value(session, "enable.account.settings.for.domain"):
            acct_domain = session.scalar(select(Account.domain_id).where(Account.id == account_id))
            if acct_domain is not None:
                found = _domain_chain_value(session, acct_domain, setting.name)
                if found is not None:
                    return found
    elif setting.scope in (DOMAIN, ACCOUNT):
        if domain_id is None and account_id is not None:
            domain_id = session.scalar(select(Account.domain_id).where(Account.id == account_id))
        if domain_id is not None:
            found = _domain_chain_value(session, domain_id, setting.name)
            if found is not None:
                return found
    return stored_global(session, setting)


def value(
    session: Session,
    name: str,
    *,
    domain_id: int | None = None,
    account_id: int | None = None,
) -> Any:
    """Typed effective value. Read from the database on every call: dynamic settings apply on
    the next use without a restart. A stored value that no longer parses reads as the
    default."""
    setting = resolve(name)
    if setting is None:
        raise KeyError(name)
    raw = raw_value(session, name, domain_id=domain_id, account_id=account_id)
    try:
        return setting.parse(raw)
    except ValueError:
        return setting.parse(setting.default)

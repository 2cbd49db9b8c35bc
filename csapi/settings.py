"""Settings: each declared once; the `configuration` table, listConfigurations and the typed
lookups all read these declarations.

Scoped values live in `domain_details` / `account_details` and fall back as CloudStack's
ConfigKey.valueInScope does (protocol spec §9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from csapi.db.models import Account, AccountDetail, Configuration, Domain, DomainDetail

GLOBAL, DOMAIN, ACCOUNT = "Global", "Domain", "Account"


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
        return {bool: "Boolean", int: "Number", float: "Decimal"}.get(self.type, "String")


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
    Setting("api.key.access", bool, "true", scope=ACCOUNT, description="Determines whether "
            "API (api-key/secret-key) access is allowed or not."),
    Setting("enforce.post.requests.and.timestamps", bool, "false", description="Enable/Disable "
            "whether the ApiServer only accepts POST requests and requires timestamps."),
    # Webhooks: the design document's names are canonical, released CloudStack's are aliases.
    Setting("webhook.delivery.timeout", int, "10", scope=DOMAIN, description="Wait timeout (in "
            "seconds) for a webhook delivery", component="webhook"),
    Setting("webhook.delivery.tries", int, "3", scope=DOMAIN, description="Number of tries to "
            "be made for a webhook delivery", component="webhook"),
    Setting("webhook.dispatch.thread.pool.size", int, "5", dynamic=False, description="Size "
            "of the worker pool for webhook deliveries", component="webhook",
            aliases=("webhook.delivery.thread.pool.size",)),
    Setting("webhook.dispatch.history.limit", int, "100", description="Limit for the number of "
            "deliveries to keep in history per webhook", component="webhook",
            aliases=("webhook.deliveries.limit",)),
    Setting("webhook.dispatch.history.cleanup.interval", int, "3600", dynamic=False,
            description="Interval (in seconds) for cleaning up webhook delivery history",
            component="webhook", aliases=("webhook.deliveries.cleanup.interval",)),
    Setting("webhook.deliveries.cleanup.initial.delay", int, "180", dynamic=False,
            description="Initial delay (in seconds) for the webhook delivery history cleanup "
            "task", component="webhook"),
    Setting("webhook.signature.encoding", str, "hex", scope=DOMAIN, description="Encoding of "
            "the X-CS-Signature header: hex (lower-case) or base64", component="webhook"),
    Setting("webhook.delivery.standard.headers", bool, "true", scope=DOMAIN, description="Also "
            "send the Standard Webhooks headers webhook-id, webhook-timestamp and "
            "webhook-signature when the webhook has a secret", component="webhook"),
    Setting("webhook.delivery.retry.backoff", int, "0", scope=DOMAIN, description="Seconds to "
            "wait before the second try, doubling for each further try (with +/-20% jitter); "
            "0 tries back to back", component="webhook"),
    Setting("webhook.delivery.allow.http", bool, "true", scope=DOMAIN, description="Allow "
            "plain HTTP webhook payload URLs", component="webhook"),
    Setting("webhook.delivery.allow.redirects", bool, "false", scope=DOMAIN, description="Follow "
            "HTTP redirects from webhook receivers; every hop is checked against the "
            "destination policy", component="webhook"),
    Setting("webhook.delivery.blocklist", str,
            "0.0.0.0/8,169.254.0.0/16,224.0.0.0/4,240.0.0.0/4,fe80::/10,ff00::/8",
            scope=DOMAIN, description="Comma-separated CIDRs that webhook deliveries may not "
            "reach (checked on every resolved address)", component="webhook"),
    Setting("webhook.delivery.block.local.addresses", bool, "false", description="Refuse "
            "webhook destinations that are loopback, unspecified, link-local or an address of "
            "this management server", component="webhook"),
)


def stored_global(session: Session, setting: Setting) -> str | None:
    row = session.get(Configuration, setting.name)
    return row.value if row is not None else setting.default


def _domain_detail(session: Session, domain_id: int, name: str) -> str | None:
    return session.scalar(
        select(DomainDetail.value).where(
            DomainDetail.domain_id == domain_id, DomainDetail.name == name
        )
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
    """The effective stored string of a setting in a scope, with CloudStack's fall-back."""
    setting = resolve(name)
    if setting is None:
        raise KeyError(name)
    if account_id is not None and setting.scope == ACCOUNT:
        found = session.scalar(
            select(AccountDetail.value).where(
                AccountDetail.account_id == account_id, AccountDetail.name == setting.name
            )
        )
        if found is not None:
            return found
        if value(session, "enable.account.settings.for.domain"):
            acct_domain = session.scalar(select(Account.domain_id).where(Account.id == account_id))
            if acct_domain is not None:
                found = _domain_chain_value(session, acct_domain, setting.name)
                if found is not None:
                    return found
    elif domain_id is not None and setting.scope == DOMAIN:
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
    the next use without a restart."""
    setting = resolve(name)
    if setting is None:
        raise KeyError(name)
    raw = raw_value(session, name, domain_id=domain_id, account_id=account_id)
    try:
        return setting.parse(raw)
    except ValueError:
        return setting.parse(setting.default)

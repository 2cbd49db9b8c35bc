"""Who owns a new webhook, who may operate an existing one, and which payload URLs pass.

Every webhook command goes through these checks, so a caller can never read, change, delete or
replay anything of a webhook it may not operate (PRODUCT.md "Access control").
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from csapi import settings
from csapi.api.acl import can_access_account, check_domain_access, finalize_owner
from csapi.api.context import TYPE_ADMIN, TYPE_DOMAIN_ADMIN, CallContext
from csapi.api.errors import InvalidParameterValue, PermissionDenied, too_long
from csapi.db.models import Account, Domain, Project, ProjectAccount, Webhook
from csapi.webhooks import policy

SCOPES = ("Local", "Domain", "Global")
STATES = ("Enabled", "Disabled")
URL_LENGTH = 255  # webhook.payload_url is varchar(255)

NOT_FOUND = "Unable to find the webhook with the specified ID"


# --- owners --------------------------------------------------------------------------------

def resolve_owner(ctx: CallContext, account: str | None, domain: Domain | None,
                  project: Project | None) -> Account:
    """CloudStack's finalizeOwner (a `domainid` alone only picks the stored domain of a
    Domain-scoped webhook), plus: the caller must be allowed to operate the owner, so a
    ROOT-domain domain admin can't create webhooks in the root admin's name."""
    if domain is not None:
        check_domain_access(ctx, domain)  # @ACL(UseEntry) on domainid
        if account is None and project is None and domain.removed is not None:
            raise InvalidParameterValue(f"Unable to find the domain by id={domain.id}")
    owner = finalize_owner(ctx, account, domain if account else None, project)
    check_owner_access(ctx, owner)
    return owner


def check_owner_access(ctx: CallContext, owner: Account) -> None:
    if not can_access_account(ctx, owner, operate=True):
        raise PermissionDenied(f"Account {ctx.account.account_name} does not have permission "
                               f"to operate with resource account {owner.account_name}")


def check_scope_for_owner(scope: str, owner: Account) -> None:
    """Global only for a root admin owner, Domain for a root or domain admin owner."""
    if (scope == "Global" and owner.type != TYPE_ADMIN) or (
            scope == "Domain" and owner.type not in (TYPE_ADMIN, TYPE_DOMAIN_ADMIN)):
        raise InvalidParameterValue(
            f"Scope {scope} can not be specified for owner {owner.account_name}")


def parse_scope(value: str) -> str:
    if value not in SCOPES:
        raise InvalidParameterValue("Invalid scope specified")
    return value


def parse_state(value: str) -> str:
    if value not in STATES:
        raise InvalidParameterValue("Invalid state specified")
    return value


# --- existing webhooks ------------------------------------------------------------------------

def live_webhook(hook: Webhook | None, missing: str = NOT_FOUND) -> Webhook:
    if hook is None or hook.removed is not None:
        raise InvalidParameterValue(missing)
    return hook


def check_webhook_access(ctx: CallContext, hook: Webhook) -> None:
    """OperateEntry on the webhook: decided by its owner account (removed webhooks too)."""
    owner = ctx.db.get(Account, hook.account_id)
    if owner is None or not can_access_account(ctx, owner, operate=True):
        raise PermissionDenied(f"Account {ctx.account.account_name} does not have permission "
                               f"to operate with resource Webhook {hook.uuid}")


def operable_accounts(ctx: CallContext) -> Any:
    """Accounts whose webhooks a non-root caller may operate, as a subquery: a domain admin's
    whole subtree (never root admins), a user's own account and the projects it belongs to."""
    if ctx.is_domain_admin:
        return (select(Account.id).join(Domain, Domain.id == Account.domain_id)
                .where(Domain.path.startswith(ctx.domain.path), Account.type != TYPE_ADMIN))
    members = select(ProjectAccount.project_account_id).where(
        ProjectAccount.account_id == ctx.account.id)
    return select(Account.id).where((Account.id == ctx.account.id) | Account.id.in_(members))


def operable_condition(ctx: CallContext) -> ColumnElement[bool]:
    """SQL condition on `Webhook`: the webhooks the caller may operate."""
    if ctx.is_root_admin:
        return true()
    return Webhook.account_id.in_(operable_accounts(ctx))


# --- payload URLs -----------------------------------------------------------------------------

# `ftp://`, `file:/`, `HTTPS://`: a scheme we would otherwise hide behind CloudStack's
# "prefix http://" normalisation. `host:8080/x` (a port) and `host/x` are not schemes.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(?!\d)")
_NON_WEB = frozenset({"javascript", "vbscript", "data", "file", "ftp", "ftps", "sftp", "gopher",
                      "ldap", "ldaps", "dict", "mailto", "jar", "netdoc", "smb", "tftp", "telnet",
                      "ssh", "ws", "wss"})


def domain_policy(db: Session, domain_id: int) -> policy.DestinationPolicy:
    """The destination policy of a domain: the Domain-scoped webhook.delivery.* settings and the
    Global block.local.addresses."""
    def v(name: str) -> Any:
        return settings.value(db, name, domain_id=domain_id)

    try:
        return policy.DestinationPolicy.from_settings(
            allow_http=v("webhook.delivery.allow.http"),
            allow_redirects=v("webhook.delivery.allow.redirects"),
            blocklist=v("webhook.delivery.blocklist"),
            block_local_addresses=settings.value(db, "webhook.delivery.block.local.addresses"),
        )
    except ValueError as exc:  # a malformed blocklist refuses everything, never nothing
        raise InvalidParameterValue(str(exc)) from None


def checked_url(ctx: CallContext, command: str, raw: str, domain_id: int) -> str:
    """Normalise a payload URL as CloudStack does and check it against the domain's policy;
    returns the URL to store. Every refusal is a 431 with the policy's text."""
    m = _SCHEME.match(raw)
    if m and (raw[m.end():].startswith("/") or m.group(1).lower() in _NON_WEB) \
            and not raw.startswith(("http://", "https://")):
        raise InvalidParameterValue(
            f"Unsupported URL scheme [{m.group(1)}], only HTTP/HTTPS are supported")
    url = policy.normalize_payload_url(raw)
    if len(url) > URL_LENGTH:
        raise too_long(command, URL_LENGTH, "payloadurl")
    try:
        # Looked up at call time so tests can stand in for DNS.
        policy.check_destination(url, domain_policy(ctx.db, domain_id), policy.system_resolve)
    except policy.DestinationError as exc:
        raise InvalidParameterValue(exc.message) from None
    return url


def check_duplicate_url(db: Session, owner_id: int, url: str, current: int | None = None) -> None:
    # Compared exactly in Python: MySQL's default collation would call /A and /a the same URL.
    stmt = select(Webhook.payload_url).where(
        Webhook.account_id == owner_id, func.lower(Webhook.payload_url) == url.lower(),
        Webhook.removed.is_(None))
    if current is not None:
        stmt = stmt.where(Webhook.id != current)
    if url in set(db.scalars(stmt)):
        raise InvalidParameterValue(f"Payload URL: {url} is already in use by another webhook")


def check_ssl(ssl_verification: bool | None, url: str, shown: str) -> None:
    if ssl_verification and not url.lower().startswith("https://"):
        raise InvalidParameterValue(
            f"SSL verification can be specified only for HTTPS URLs, {shown}")


def check_secret(command: str, secret: str | None, limit: int) -> None:
    """Its ciphertext must fit varchar(255): the limit is in UTF-8 bytes, not characters."""
    if secret is not None and len(secret.encode("utf-8")) > limit:
        raise too_long(command, limit, "secretkey")

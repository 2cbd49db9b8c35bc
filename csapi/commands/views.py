"""Response objects shared by several command families (domain, account, user) and the
functions that fill them from rows. Field order is CloudStack's wire order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from csapi.api.registry import Field, ResponseObject, obj
from csapi.db.models import Account, Domain, Role, User


def domain_path(domain: Domain) -> str:
    """API form of a domain path: `/` -> `ROOT`, `/a/b/` -> `ROOT/a/b`."""
    return "ROOT" + domain.path.rstrip("/") if domain.path != "/" else "ROOT"


USER = obj(
    "user",
    ("id", "string", "the user ID"),
    ("username", "string", "the user name"),
    ("firstname", "string", "the user firstname"),
    ("lastname", "string", "the user lastname"),
    ("email", "string", "the user email address"),
    ("created", "date", "the date and time the user account was created"),
    ("state", "string", "the user state"),
    ("account", "string", "the account name of the user"),
    ("accounttype", "integer", "the account type of the user"),
    ("usersource", "string", "the source type of the user in lowercase, such as native, ldap, "
     "saml2"),
    ("roleid", "string", "the ID of the role"),
    ("roletype", "string", "the type of the role"),
    ("rolename", "string", "the name of the role"),
    ("domainid", "string", "the domain ID of the user"),
    ("domain", "string", "the domain name of the user"),
    ("timezone", "string", "the timezone user was created in"),
    ("apikey", "string", "the api key of the user"),
    ("accountid", "string", "the account ID of the user"),
    ("iscallerchilddomain", "boolean", "the boolean value representing if the updating target "
     "is in caller's child domain"),
    ("isdefault", "boolean", "true if user is default, false otherwise"),
    ("is2faenabled", "boolean", "true if user has two factor authentication enabled"),
    ("is2famandated", "boolean", "true if user has two factor authentication is mandated"),
)

ACCOUNT = ResponseObject("account", (
    Field("id", "string", "the id of the account"),
    Field("name", "string", "the name of the account"),
    Field("accounttype", "integer", "account type (admin, domain-admin, user)"),
    Field("roleid", "string", "the ID of the role"),
    Field("roletype", "string", "the type of the role (Admin, ResourceAdmin, DomainAdmin, "
          "User)"),
    Field("rolename", "string", "the name of the role"),
    Field("domainid", "string", "id of the Domain the account belongs to"),
    Field("domain", "string", "name of the Domain the account belongs to"),
    Field("domainpath", "string", "path of the Domain the account belongs to"),
    Field("state", "string", "the state of the account"),
    Field("iscleanuprequired", "boolean", "true if the account requires cleanup"),
    Field("created", "date", "the date when this account was created"),
    Field("user", "list", "the list of users associated with account", USER),
    Field("networkdomain", "string", "the network domain"),
    Field("isdefault", "boolean", "true if account is default, false otherwise"),
))

DOMAIN = obj(
    "domain",
    ("id", "string", "the ID of the domain"),
    ("name", "string", "the name of the domain"),
    ("level", "integer", "the level of the domain"),
    ("parentdomainid", "string", "the domain ID of the parent domain"),
    ("parentdomainname", "string", "the domain name of the parent domain"),
    ("haschild", "boolean", "whether the domain has one or more sub-domains"),
    ("networkdomain", "string", "the network domain"),
    ("path", "string", "the path of the domain"),
    ("state", "string", "the state of the domain"),
    ("created", "date", "the date when this domain was created"),
)


def user_view(db: Session, user: User, account: Account | None = None,
              caller_domain: Domain | None = None) -> dict[str, Any]:
    account = account or db.get(Account, user.account_id)
    assert account is not None
    domain = db.get(Domain, account.domain_id)
    role = db.get(Role, account.role_id) if account.role_id else None
    assert domain is not None
    return {
        "id": user.uuid, "username": user.username, "firstname": user.firstname,
        "lastname": user.lastname, "email": user.email, "created": user.created,
        "state": user.state, "account": account.account_name, "accounttype": account.type,
        "usersource": user.source or "native",
        "roleid": role.uuid if role else None, "roletype": role.role_type if role else None,
        "rolename": role.name if role else None,
        "domainid": domain.uuid, "domain": domain.name, "timezone": user.timezone,
        "apikey": user.api_key, "accountid": account.uuid,
        "iscallerchilddomain": bool(caller_domain and domain.id != caller_domain.id
                                    and domain.path.startswith(caller_domain.path)),
        "isdefault": bool(user.is_default), "is2faenabled": False, "is2famandated": False,
    }


def account_view(db: Session, account: Account) -> dict[str, Any]:
    domain = db.get(Domain, account.domain_id)
    role = db.get(Role, account.role_id) if account.role_id else None
    assert domain is not None
    users = db.scalars(select(User).where(User.account_id == account.id,
                                          User.removed.is_(None)).order_by(User.id))
    return {
        "id": account.uuid, "name": account.account_name, "accounttype": account.type,
        "roleid": role.uuid if role else None, "roletype": role.role_type if role else None,
        "rolename": role.name if role else None,
        "domainid": domain.uuid, "domain": domain.name, "domainpath": domain_path(domain),
        "state": account.state, "iscleanuprequired": bool(account.cleanup_needed),
        "created": account.created, "user": [user_view(db, u, account) for u in users],
        "networkdomain": account.network_domain, "isdefault": bool(account.default),
    }


def domain_view(db: Session, domain: Domain) -> dict[str, Any]:
    parent = db.get(Domain, domain.parent) if domain.parent else None
    has_child = db.scalar(select(Domain.id).where(
        Domain.parent == domain.id, Domain.removed.is_(None)).limit(1)) is not None
    return {
        "id": domain.uuid, "name": domain.name, "level": domain.level,
        "parentdomainid": parent.uuid if parent else None,
        "parentdomainname": parent.name if parent else None,
        "haschild": has_child, "networkdomain": domain.network_domain,
        "path": domain_path(domain), "state": domain.state, "created": domain.created,
    }

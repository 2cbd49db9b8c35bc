"""A fresh database looks like a fresh CloudStack: ROOT, system and admin, the default roles,
every declared setting and one simulated zone. Running it again adds only what is missing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from csapi import settings
from csapi.crypto import hash_password
from csapi.db.models import Account, Configuration, DataCenter, Domain, Role, RolePermission, User

# (id, name, role_type, description, read-only rules)
DEFAULT_ROLES = (
    (1, "Root Admin", "Admin", "Default root admin role", None),
    (2, "Resource Admin", "ResourceAdmin", "Default resource admin role", None),
    (3, "Domain Admin", "DomainAdmin", "Default domain admin role", None),
    (4, "User", "User", "Default user role", None),
    (5, "Read-Only Admin - Default", "Admin", "Default read-only admin role",
     ("list*", "get*", "query*", "listApis")),
    (6, "Read-Only User - Default", "User", "Default read-only user role",
     ("list*", "get*", "query*", "listApis")),
)

# Account type -> default role id (createAccount without roleid).
DEFAULT_ROLE_FOR_TYPE = {0: 4, 1: 1, 2: 3, 3: 2, 4: 5}


def now() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


def seed(session: Session) -> None:
    _seed_roles(session)
    _seed_settings(session)
    if session.get(Domain, 1) is None:
        _seed_tenancy(session)
    if session.scalar(select(DataCenter.id).limit(1)) is None:
        session.add(DataCenter(
            uuid=str(uuid.uuid4()), name="Sandbox-simulator", description="Simulated zone",
            dns1="8.8.8.8", internal_dns1="10.147.28.6", networktype="Advanced",
            allocation_state="Enabled", zone_token=str(uuid.uuid4()), type="Core",
            created=now(),
        ))


def _seed_roles(session: Session) -> None:
    for role_id, name, role_type, description, rules in DEFAULT_ROLES:
        if session.get(Role, role_id) is not None:
            continue
        session.add(Role(id=role_id, uuid=str(uuid.uuid4()), name=name, role_type=role_type,
                         description=description, is_default=True, public_role=True,
                         state="ENABLED"))
        session.flush()
        if rules:
            order = 0
            for order, rule in enumerate(rules):
                session.add(RolePermission(uuid=str(uuid.uuid4()), role_id=role_id, rule=rule,
                                           permission="ALLOW", sort_order=order))
            session.add(RolePermission(uuid=str(uuid.uuid4()), role_id=role_id, rule="*",
                                       permission="DENY", sort_order=order + 1))


def _seed_settings(session: Session) -> None:
    existing = set(session.scalars(select(Configuration.name)))
    for s in settings.SETTINGS.values():
        if s.name in existing:
            continue
        session.add(Configuration(
            name=s.name, category=s.category, instance="DEFAULT", component=s.component,
            value=s.default, default_value=s.default, description=s.description,
            scope=s.scope, is_dynamic=s.dynamic, updated=None,
        ))


def _seed_tenancy(session: Session) -> None:
    created = now()
    session.add(Domain(id=1, uuid=str(uuid.uuid4()), parent=None, name="ROOT", owner=2, path="/",
                       level=0, child_count=0, state="Active", created=created))
    session.flush()
    session.add(Account(id=1, uuid=str(uuid.uuid4()), account_name="system", type=1, role_id=1,
                        domain_id=1, state="enabled", default=True, created=created))
    session.add(Account(id=2, uuid=str(uuid.uuid4()), account_name="admin", type=1, role_id=1,
                        domain_id=1, state="enabled", default=True, created=created))
    session.flush()
    session.add(User(id=1, uuid=str(uuid.uuid4()), username="system", password=None,
                     account_id=1, firstname="system", lastname="cloud", state="enabled",
                     is_default=True, created=created))
    session.add(User(id=2, uuid=str(uuid.uuid4()), username="admin",
                     password=hash_password("password"), account_id=2, firstname="Admin",
                     lastname="User", state="enabled", is_default=True, created=created))

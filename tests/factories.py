"""Rows for tests, written straight to the database (for tests of features other than the
tenancy commands themselves, which create their data through the API)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from csapi.crypto import hash_password
from csapi.db import transaction
from csapi.db.models import Account, Domain, Project, ProjectAccount, User
from csapi.seed import DEFAULT_ROLE_FOR_TYPE, now
from tests.client import ApiClient, make_keys


@dataclass
class Tenant:
    account_id: int
    account_uuid: str
    account_name: str
    user_id: int
    user_uuid: str
    domain_id: int
    domain_uuid: str
    client: ApiClient


def create_domain(state: Any, name: str, parent_id: int = 1) -> tuple[int, str]:
    with transaction(state.sessions) as db:
        parent = db.get(Domain, parent_id)
        domain = Domain(uuid=str(uuid.uuid4()), parent=parent.id, name=name, owner=2,
                        path=f"{parent.path}{name}/", level=parent.level + 1, state="Active",
                        created=now())
        db.add(domain)
        db.flush()
        return domain.id, domain.uuid


def create_tenant(app: Any, state: Any, name: str, domain_id: int = 1,
                  account_type: int = 0) -> Tenant:
    """An account of `account_type` with one user `name` holding API keys."""
    with transaction(state.sessions) as db:
        domain = db.get(Domain, domain_id)
        account = Account(uuid=str(uuid.uuid4()), account_name=name, type=account_type,
                          role_id=DEFAULT_ROLE_FOR_TYPE[account_type], domain_id=domain_id,
                          state="enabled", created=now())
        db.add(account)
        db.flush()
        user = User(uuid=str(uuid.uuid4()), username=name, password=hash_password("password"),
                    account_id=account.id, firstname=name, lastname="Test",
                    email=f"{name}@example.com", state="enabled", created=now())
        db.add(user)
        db.flush()
        ids = (account.id, account.uuid, user.id, user.uuid, domain.uuid)
    api_key, secret = make_keys(state, ids[2])
    return Tenant(ids[0], ids[1], name, ids[2], ids[3], domain_id, ids[4],
                  ApiClient(app.test_client(), api_key, secret))


def create_project(state: Any, name: str, domain_id: int, admin_account_id: int,
                   members: tuple[int, ...] = ()) -> tuple[int, str, int]:
    """A project (with its hidden PROJECT account); returns (project id, uuid, account id)."""
    with transaction(state.sessions) as db:
        account = Account(uuid=str(uuid.uuid4()), account_name=f"PrjAcct-{name}", type=5,
                          role_id=None, domain_id=domain_id, state="enabled", created=now())
        db.add(account)
        db.flush()
        project = Project(uuid=str(uuid.uuid4()), name=name, display_text=name,
                          project_account_id=account.id, domain_id=domain_id, state="Active",
                          created=now())
        db.add(project)
        db.flush()
        for member, role in ((admin_account_id, "Admin"),) + tuple((m, "Regular")
                                                                   for m in members):
            db.add(ProjectAccount(account_id=member, account_role=role,
                                  project_account_id=account.id, project_id=project.id,
                                  created=now()))
        return project.id, project.uuid, account.id

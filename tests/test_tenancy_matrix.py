"""Who may see and change whom: every caller kind x command x owner, generated from one table
of expectations (CloudStack's checkAccess plus the role-type rules for user/account changes).

The world: ROOT holds `admin` and a second root admin `root2`; domain D1 holds two domain
admins (da1, da1b) and two users (u1, u1b); D1's sub-domain S holds `us`; the sibling domain D2
holds a domain admin `da2` and a user `u2`. Callers: the root admin, a domain admin of D1, a
domain admin of the sibling D2, a user of D1 and another user of the same domain.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update

from csapi.crypto import new_api_key
from csapi.db import transaction
from csapi.db.models import Account, AsyncJob, Domain, User
from csapi.seed import DEFAULT_ROLE_FOR_TYPE, now
from tests.client import ApiClient
from tests.tenancy_helpers import snapshot

# name -> (domain key, account type); `admin` is the seeded root admin.
PEOPLE = {
    "admin": ("ROOT", 1), "root2": ("ROOT", 1),
    "da1": ("D1", 2), "da1b": ("D1", 2), "u1": ("D1", 0), "u1b": ("D1", 0),
    "us": ("S", 0),
    "da2": ("D2", 2), "u2": ("D2", 0),
}
# Domain keys and their parents (ROOT is the seeded root domain).
PARENT = {"D1": "ROOT", "S": "D1", "D2": "ROOT"}
DOMAIN_ORDER = ("ROOT", "D1", "S", "D2")
CALLERS = ("admin", "da1", "da2", "u1", "u1b")
KIND = {1: "root", 2: "domain-admin", 0: "user"}

OK, DENY, SELF = "ok", "deny", "self"
# The table: what a caller kind may do to an owner, by where the owner sits relative to it.
EXPECT = {
    "root":         {"self": SELF, "same-domain": OK, "sub-domain": OK, "other-domain": OK},
    "domain-admin": {"self": SELF, "same-domain": OK, "sub-domain": OK, "other-domain": DENY,
                     "root-admin": DENY},
    "user":         {"self": SELF, "same-domain": DENY, "sub-domain": DENY,
                     "other-domain": DENY, "root-admin": DENY},
}


@dataclass
class Person:
    key: str          # the name in PEOPLE
    name: str         # its account (and user) name in this world
    domain: str
    type: int
    account_id: int
    account_uuid: str
    user_id: int
    user_uuid: str
    client: ApiClient


def ancestors(domain: str) -> list[str]:
    chain = []
    while domain in PARENT:
        domain = PARENT[domain]
        chain.append(domain)
    return chain


def relation(caller: Person, owner: Person) -> str:
    if caller.key == owner.key:
        return "self"
    if owner.type == 1 and caller.type != 1:
        return "root-admin"
    if caller.domain == owner.domain:
        return "same-domain"
    return "sub-domain" if caller.domain in ancestors(owner.domain) else "other-domain"


def expected(caller: Person, owner: Person) -> str:
    return EXPECT[KIND[caller.type]][relation(caller, owner)]


def build_world(app: Any, state: Any, tag: str = "") -> dict[str, Person]:
    """Rows straight into the database (no password hashing: keys only), fast enough to build
    a fresh world for every caller. `tag` keeps several worlds apart in one database (they
    share only ROOT and its `admin`)."""
    world: dict[str, Person] = {}
    with transaction(state.sessions) as db:
        domains = {"ROOT": db.get(Domain, 1)}
        for key in DOMAIN_ORDER[1:]:
            up = domains[PARENT[key]]
            domains[key] = Domain(uuid=str(uuid.uuid4()), parent=up.id, name=key + tag,
                                  owner=2, path=f"{up.path}{key}{tag}/", level=up.level + 1,
                                  child_count=0, state="Active", created=now())
            db.add(domains[key])
            db.flush()
        for key, (dom, kind) in PEOPLE.items():
            name = key if key == "admin" else key + tag
            if key == "admin":
                account, user = db.get(Account, 2), db.get(User, 2)
            else:
                account = Account(uuid=str(uuid.uuid4()), account_name=name, type=kind,
                                  role_id=DEFAULT_ROLE_FOR_TYPE[kind],
                                  domain_id=domains[dom].id, state="enabled", created=now())
                db.add(account)
                db.flush()
                user = User(uuid=str(uuid.uuid4()), username=name, account_id=account.id,
                            firstname=name, lastname="M", email=f"{name}@example.com",
                            state="enabled", created=now())
                db.add(user)
            api_key, secret = new_api_key(), new_api_key()
            user.api_key, user.secret_key = api_key, state.secrets.encrypt(secret)
            db.flush()
            world[key] = Person(key, name, dom, kind, account.id, account.uuid, user.id,
                                user.uuid, ApiClient(app.test_client(), api_key, secret))
    return world


def account_row(state: Any, person: Person) -> Account:
    with transaction(state.sessions) as db:
        return db.get(Account, person.account_id)


def user_row(state: Any, person: Person) -> User:
    with transaction(state.sessions) as db:
        return db.get(User, person.user_id)


def set_rows(state: Any, person: Person, *, account: dict | None = None,
             user: dict | None = None) -> None:
    with transaction(state.sessions) as db:
        if account:
            db.execute(update(Account).where(Account.id == person.account_id).values(**account))
        if user:
            db.execute(update(User).where(User.id == person.user_id).values(**user))


# --- the commands --------------------------------------------------------------------------

@dataclass
class Case:
    command: str
    is_async: bool
    params: Callable[[Person], dict[str, Any]]
    applied: Callable[[Any, Person], bool]          # did the change happen?
    prepare: Callable[[Any, Person], None] | None = None
    on_user: bool = False                            # does it act on the owner's user?
    self_outcome: Callable[[Person], tuple[int, str] | None] = lambda caller: None


CASES = {
    "updateAccount": Case(
        "updateAccount", False, lambda o: {"id": o.account_uuid, "networkdomain": "m.example"},
        lambda st, o: account_row(st, o).network_domain == "m.example"),
    "enableAccount": Case(
        "enableAccount", False, lambda o: {"id": o.account_uuid},
        lambda st, o: account_row(st, o).state == "enabled",
        prepare=lambda st, o: set_rows(st, o, account={"state": "disabled"})),
    "disableAccount": Case(
        "disableAccount", True, lambda o: {"id": o.account_uuid, "lock": False},
        lambda st, o: account_row(st, o).state == "disabled",
        self_outcome=lambda c: (530, "Unable to update account admin by accountId: 2 OR by "
                                "name: null in domain null") if c.name == "admin" else None),
    "deleteAccount": Case(
        "deleteAccount", True, lambda o: {"id": o.account_uuid},
        lambda st, o: account_row(st, o).removed is not None),
    "updateUser": Case(
        "updateUser", False, lambda o: {"id": o.user_uuid, "firstname": "Changed"},
        lambda st, o: user_row(st, o).firstname == "Changed", on_user=True),
    "enableUser": Case(
        "enableUser", False, lambda o: {"id": o.user_uuid},
        lambda st, o: user_row(st, o).state == "enabled", on_user=True,
        prepare=lambda st, o: set_rows(st, o, user={"state": "disabled"})),
    "disableUser": Case(
        "disableUser", True, lambda o: {"id": o.user_uuid},
        lambda st, o: user_row(st, o).state == "disabled", on_user=True),
    "lockUser": Case(
        "lockUser", False, lambda o: {"id": o.user_uuid},
        lambda st, o: user_row(st, o).state == "locked", on_user=True),
    "deleteUser": Case(
        "deleteUser", False, lambda o: {"id": o.user_uuid},
        lambda st, o: user_row(st, o).removed is not None, on_user=True),
    "registerUserKeys": Case(
        "registerUserKeys", False, lambda o: {"id": o.user_uuid},
        lambda st, o: user_row(st, o).api_key != o.client.api_key, on_user=True),
}


def special_outcome(state: Any, case: Case, caller: Person,
                    owner: Person) -> tuple[int, str] | None:
    """Rules that speak before the access table: the default user can never be deleted
    (checked first, whoever asks)."""
    if case.command == "deleteUser" and owner.name == "admin":
        return 431, "The user is default and can't be (re)moved"
    return None


def self_outcome(state: Any, case: Case, caller: Person) -> tuple[int, str] | None:
    """What CloudStack answers when a caller points a command at itself (None: allowed)."""
    if case.command == "deleteAccount":
        with transaction(state.sessions) as db:
            domain_uuid = db.get(Domain, db.get(Account, caller.account_id).domain_id).uuid
        return 431, (f"Deletion of your own account is not allowed. To delete account "
                     f"{caller.name} (ID: {caller.account_uuid}, Domain: {domain_uuid}), request "
                     "to another user with permissions to perform the operation.")
    if case.command == "deleteUser":
        with transaction(state.sessions) as db:
            domain_uuid = db.get(Domain, db.get(Account, caller.account_id).domain_id).uuid
        return 431, ("The caller is requesting to delete itself. As a security measure, ACS "
                     f"will not allow this operation. To delete user {caller.name} (ID: "
                     f"{caller.user_uuid}, Domain: {domain_uuid}), request to another user with "
                     "permission to execute the operation.")
    return case.self_outcome(caller)


def call(state: Any, case: Case, caller: Person, owner: Person) -> tuple[int, str | None]:
    """(0, None) on success, else (error code, text) — from the response or from the job."""
    res = caller.client.call(case.command, **case.params(owner))
    if res.status != 200:
        return res.status, res.error
    if not case.is_async:
        return 0, None
    # Read the job's row: a caller that disabled itself can no longer poll.
    deadline = time.monotonic() + 15
    while True:
        with transaction(state.sessions) as db:
            job = db.scalar(select(AsyncJob).where(AsyncJob.uuid == res.body["jobid"]))
            status, code, result = job.job_status, job.job_result_code, job.job_result
        if status != 0:
            break
        assert time.monotonic() < deadline, "job still pending"
        time.sleep(0.02)
    if status == 1:
        return 0, None
    return code, json.loads(result)["errortext"]


@pytest.mark.parametrize("command", sorted(CASES))
def test_mutations(app, state, command: str) -> None:
    case = CASES[command]
    # One fresh world per caller; the root admin (shared by all worlds) goes last.
    for caller_key in sorted(CALLERS, key=lambda c: c == "admin"):
        world = build_world(app, state, tag=f"-{caller_key}")
        caller = world[caller_key]
        outcomes = [check(state, case, caller, owner)
                    for owner in sorted(world.values(), key=lambda p: p.key == caller_key)]
        assert len(outcomes) == len(PEOPLE)


def check(state: Any, case: Case, caller: Person, owner: Person) -> str:
    """Run the command of `caller` against `owner` and compare with the table."""
    outcome = expected(caller, owner)
    if case.prepare and owner.key != caller.key:
        case.prepare(state, owner)
    before = snapshot(state)
    code, text = call(state, case, caller, owner)
    after = snapshot(state)
    label = f"{case.command} by {caller.key} on {owner.key} ({relation(caller, owner)})"
    special = special_outcome(state, case, caller, owner)
    if special is not None:
        outcome = "special"
    elif outcome == SELF:
        special = self_outcome(state, case, caller)
        outcome = OK if special is None else "special"
    if outcome == OK:
        assert (code, text) == (0, None), label
        assert case.applied(state, owner), label
    elif outcome == DENY:
        assert (code, text) == (531, f"Account {caller.name} does not have permission to "
                                f"operate with resource account {owner.name}"), label
        assert not case.applied(state, owner), label
        # Nothing written; a refused async job leaves only its own events behind.
        ignore = {"event"} if case.is_async else set()
        assert {t: v for t, v in after.items() if t not in ignore} == {
            t: v for t, v in before.items() if t not in ignore}, label
    else:
        assert (code, text) == special, label
        assert not case.applied(state, owner), label
    if case.prepare and owner.key == "admin":
        # The root admin is shared by the worlds: undo the preparation.
        set_rows(state, owner, account={"state": "enabled"}, user={"state": "enabled"})
    return outcome


# --- visibility ------------------------------------------------------------------------------

def visible_accounts(world: dict[str, Person], caller: Person) -> list[str]:
    """listall=true: everyone the caller may operate on (users: only themselves)."""
    return sorted(p.name for p in world.values() if expected(caller, p) != DENY)


def visible_domains(caller: Person) -> list[str]:
    if caller.type == 1:
        return sorted(DOMAIN_ORDER)
    return sorted(k for k in DOMAIN_ORDER
                  if k == caller.domain or caller.domain in ancestors(k))


@pytest.mark.parametrize("caller_name", CALLERS)
def test_visibility(app, state, caller_name: str) -> None:
    world = build_world(app, state)
    caller = world[caller_name]
    client = caller.client
    expected_names = visible_accounts(world, caller)
    accounts = client.ok("listAccounts", listall=True)
    assert sorted(a["name"] for a in accounts["account"]) == expected_names
    assert accounts["count"] == len(expected_names)
    users = client.ok("listUsers", listall=True)
    assert sorted(u["username"] for u in users["user"]) == expected_names
    # Without listall everyone sees only its own account and user.
    assert [a["name"] for a in client.ok("listAccounts")["account"]] == [caller.name]
    assert [u["username"] for u in client.ok("listUsers")["user"]] == [caller.name]
    by_name = {d["name"]: d for d in client.ok("listDomains", listall=True)["domain"]}
    assert sorted(by_name) == visible_domains(caller)
    own = client.ok("listDomains")["domain"]
    assert [d["name"] for d in own] == (list(DOMAIN_ORDER) if caller.type == 1
                                        else [caller.domain])
    # Asking for a single owner by id follows the same table.
    for owner in world.values():
        res = client.call("listAccounts", id=owner.account_uuid)
        if expected(caller, owner) == DENY:
            assert (res.status, res.error) == (531, f"Account {caller.name} does not have "
                                               "permission to operate with resource account "
                                               f"{owner.name}")
        else:
            assert [a["name"] for a in res.body["account"]] == [owner.name]

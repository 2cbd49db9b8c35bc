"""Every command, every parameter, hostile values: the answer is always CloudStack's envelope
and a refused call writes nothing.

The command list comes from `listApis` (as the root admin). Each call carries valid values for
the command's required parameters (and its `id`), aimed at throwaway rows built for the test,
so that the fuzzed parameter is what gets judged and nothing seeded is ever harmed; rows a call
consumes (deleted, disabled, renamed) are rebuilt before the next call. Values come from fixed
pools picked by `random.Random(1234)` and, in the second test, from Hypothesis with a
derandomized seed. Methods and formats rotate: GET/POST x JSON/XML/default.

Excluded: nothing. `login`/`logout` are not in listApis (tests/test_auth_attacks.py and
tests/test_bad_input.py cover them).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from csapi import crypto
from csapi.api.errors import InvalidParameterValue
from csapi.api.registry import REGISTRY
from csapi.commands import ssh_keypairs
from csapi.db import transaction
from csapi.db.models import (
    Account,
    AsyncJob,
    Configuration,
    DataCenter,
    Domain,
    Event,
    Project,
    ProjectAccount,
    Role,
    RolePermission,
    SSHKeyPair,
    User,
    Webhook,
    WebhookDelivery,
    WebhookFilter,
)
from csapi.seed import now
from tests.hostile import (
    GENERIC_530,
    TABLES,
    Answer,
    add_row,
    call,
    changed,
    check_envelope,
    ed25519_key,
    table_counts,
    table_digest,
)
from tests.receivers import closed_port_url
from tests.webhook_fixtures import dns  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("dns")

SEED = 1234
ROTATION = (("GET", "json"), ("POST", "xml"), ("GET", "xml"), ("POST", "json"), ("GET", None))
# Tables an accepted async job may write even when the job itself fails.
JOB_TABLES = {"async_job", "event", "webhook_dispatch_event"}
DIGESTED = tuple(t for t in TABLES if t not in ("async_job", "webhook_dispatch_event",
                                                 "webhook_delivery"))
# Accepted calls of these consume the throwaway rows: rebuild them before the next call.
CONSUMING = ("delete", "disable", "lock", "updateAccount", "updateUser", "registerUserKeys")
# Everything outside loopback is blocked, so a fuzzed URL can never leave the machine.
LOOPBACK_ONLY = ("0.0.0.0/2,64.0.0.0/3,96.0.0.0/4,112.0.0.0/5,120.0.0.0/6,124.0.0.0/7,"
                 "126.0.0.0/8,128.0.0.0/1,::/0")


# One value from each pool for every parameter; the pick is seeded.
POOLS: dict[str, tuple[str, ...]] = {
    "wrong-type": ("abc", "1.5", "-1", "0", "true", "99999999999999999999", "0x1F", "NaN",
                   "1e309", "[]", "{}", "-9223372036854775809", "2026-13-45",
                   "0000-00-00 00:00:00", "9999-12-31 23:59:59", "2026-02-30", "01/02/2026"),
    "10KB": ("A" * 10240, "é" * 10240, ("<x>" * 3414)[:10240]),
    "300": ("x" * 300, "ü" * 300, "'" * 300),
    "unicode": ("ünïcødé ☃", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🚀", "\u202eevil.exe", "\u200b", "１２３",
                "\ufeffbom", "中文名字", "a\u0301\u0301", "\uffff", "Ω≈ç√∫"),
    "control": ("a\x01b", "\x1b[31mred", "\x7f", "\x08", "\x0b", "\x1f"),
    "null-byte": ("\x00", "a\x00b", "%00", "\\0", "a%00.json"),
    "sql": ("' OR '1'='1", "1; DROP TABLE account;--", "%", "_", "\\", "\" OR 1=1 --",
            "admin'--", "') UNION SELECT * FROM user--", "%' AND SLEEP(5)--", "%s%s%s%n",
            "${jndi:ldap://127.0.0.1/a}", "{{7*7}}", "$(id)", "`id`"),
    "xml": ("<script>alert(1)</script>", "]]>", "&amp;&lt;&#0;", "<a b='c'/>",
            "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;"),
    "crlf": ("a\r\nX-Injected: 1", "\r\n\r\n<html>", "line1\nline2", "\r", "%0d%0aX: y"),
    "traversal": ("../../etc/passwd", "..\\..\\windows", "/etc/passwd", "....//....//",
                  "%2e%2e%2f", "file:///etc/passwd"),
    "shape": ("", " ", "\t", "null", ",,,", "a,b,c", "x[0].y", "[0]", "=", "&", "+", "#"),
    "uuid": ("00000000-0000-0000-0000-000000000000", "@other", "@upper", "@space", "1", "-1",
             "@quote"),
}


# --- throwaway rows --------------------------------------------------------------------------

@dataclass
class World:
    """Rows the fuzzed calls aim at: a domain with two accounts, a user with keys, a project,
    a role with a rule, a webhook with a delivery and a filter, an event, a finished job and
    a key pair."""

    uuids: dict[str, str] = field(default_factory=dict)  # entity name -> uuid
    account_name: str = ""
    member_name: str = ""
    user_api_key: str = ""
    keypair_name: str = ""
    root_domain_uuid: str = ""


def build_world(state: Any, url: str) -> World:
    tag = uuid.uuid4().hex[:8]
    w = World()

    with transaction(state.sessions) as db:
        new = partial(add_row, db)
        root = db.get(Domain, 1)
        w.root_domain_uuid = root.uuid
        domain = new(Domain, parent=1, name=f"fz{tag}", owner=2, path=f"/fz{tag}/", level=1,
                     state="Active", created=now())
        account = new(Account, account_name=f"fza{tag}", type=0, role_id=4,
                      domain_id=domain.id, state="enabled", created=now())
        member = new(Account, account_name=f"fzm{tag}", type=0, role_id=4,
                     domain_id=domain.id, state="enabled", created=now())
        w.user_api_key = crypto.new_api_key()
        user = new(User, username=f"fzu{tag}", account_id=account.id, firstname="F",
                   lastname="Z", email="fz@example.com", state="enabled",
                   api_key=w.user_api_key, secret_key=state.secrets.encrypt("s"),
                   created=now())
        prj_acct = new(Account, account_name=f"PrjAcct-fz{tag}", type=5, role_id=None,
                       domain_id=domain.id, state="enabled", created=now())
        project = new(Project, name=f"fzp{tag}", display_text="fz",
                      project_account_id=prj_acct.id, domain_id=domain.id, state="Active",
                      created=now())
        for acct, role_name in ((account, "Admin"), (member, "Regular")):
            db.add(ProjectAccount(account_id=acct.id, account_role=role_name,
                                  project_account_id=prj_acct.id, project_id=project.id,
                                  created=now()))
        role = new(Role, name=f"fzr{tag}", role_type="User", description="fz")
        perm = new(RolePermission, role_id=role.id, rule=f"listFz{tag}", permission="ALLOW",
                   sort_order=0)
        hook = new(Webhook, name=f"fzh{tag}", state="Enabled", domain_id=domain.id,
                   account_id=account.id, payload_url=f"{url}/{tag}",
                   secret_key=state.secrets.encrypt("hook-secret"), ssl_verification=False,
                   scope="Local", created=now())
        event = new(Event, type="USER.LOGIN", state="Completed", description="fz",
                    user_id=user.id, account_id=account.id, domain_id=domain.id,
                    created=now(), level="INFO", start_id=0, archived=False, display=True)
        delivery = new(WebhookDelivery, event_id=event.id, webhook_id=hook.id,
                       mshost_msid=state.msid, headers="X: y", payload="{}", success=True,
                       response="ok", start_time=now(), end_time=now())
        filt = new(WebhookFilter, webhook_id=hook.id, type="EventType", mode="Include",
                   match_type="Exact", value="USER.LOGIN", created=now())
        job = new(AsyncJob, user_id=2, account_id=2, job_cmd="listApis", job_status=1,
                  job_process_status=0, job_result_code=0, job_result="{}", created=now(),
                  last_updated=now(), completed=now())
        w.keypair_name = f"fzk{tag}"
        keypair = new(SSHKeyPair, account_id=2, domain_id=1, keypair_name=w.keypair_name,
                      fingerprint="00:11", public_key=ed25519_key(tag), created=now())
        zone = db.scalar(select(DataCenter).limit(1))
        w.uuids = {"Domain": domain.uuid, "Account": account.uuid, "User": user.uuid,
                   "Project": project.uuid, "Role": role.uuid, "RolePermission": perm.uuid,
                   "Webhook": hook.uuid, "Event": event.uuid, "WebhookDelivery": delivery.uuid,
                   "WebhookFilter": filt.uuid, "AsyncJob": job.uuid, "SSHKeyPair": keypair.uuid,
                   "DataCenter": zone.uuid, "ManagementServer": state.mshost_uuid}
        w.account_name, w.member_name = account.account_name, member.account_name
    return w


# --- the fuzzer -------------------------------------------------------------------------------

@dataclass
class Api:
    name: str
    is_async: bool
    params: list[dict[str, Any]]  # listApis' params entries


class Fuzzer:
    def __init__(self, app: Any, state: Any, admin: Any) -> None:
        self.http = app.test_client(use_cookies=False)
        self.state = state
        self.key, self.secret = admin.api_key, admin.secret
        self.url = closed_port_url().rsplit("/", 1)[0] + "/fz"
        self.world = build_world(state, self.url)
        self.counts = table_counts(state)
        self.n = 0
        self.rng = random.Random(SEED)
        self.stats = {"calls": 0, "accepted": 0, "rejected": 0, "jobs": 0, "rebuilt": 0}
        self.codes: dict[int, int] = {}
        self.failures: list[str] = []
        self.accepted_by: dict[str, int] = {}
        self.logged: list[logging.LogRecord] = []
        self.apis = self.list_apis()
        self.last_digest: dict[str, str] | None = None
        # Small pages: the throwaway rows pile up, and rendering them is not what is tested.
        with transaction(state.sessions) as db:
            db.get(Configuration, "default.page.size").value = "20"
        self.counts = table_counts(state)

    def list_apis(self) -> list[Api]:
        """Every command as listApis describes it; reads first, before rows pile up."""
        ans = call(self.http, "GET", "listApis", [], api_key=self.key, secret=self.secret)
        assert ans.status == 200, ans.text
        apis = [Api(a["name"], a["isasync"], a.get("params", [])) for a in ans.body["api"]]
        assert len(apis) == ans.body["count"] == len(REGISTRY)
        return sorted(apis, key=lambda a: (not a.name.startswith(("list", "get", "query")),
                                           a.name))

    # --- parameters ---------------------------------------------------------------------------

    def unique(self) -> str:
        self.n += 1
        return f"fz{self.n}"

    def entity(self, command: str, param: str) -> str | None:
        p = REGISTRY[command].params_by_name.get(param)
        return p.entity.__name__ if p is not None and p.entity is not None else None

    def valid(self, command: str, param: dict[str, Any]) -> str | None:
        name, ptype, w = param["name"], param["type"], self.world
        special: dict[str, Callable[[], str]] = {
            "name": self.unique, "username": self.unique, "account": lambda: w.account_name,
            "email": lambda: self.unique() + "@example.com", "password": lambda: "Secret-123",
            "firstname": lambda: "Fuzz", "lastname": lambda: "Fuzz",
            "payloadurl": lambda: f"{self.url}/{self.unique()}", "value": lambda: "USER.LOGIN",
            "rule": lambda: "fzRule" + self.unique(), "permission": lambda: "allow",
            "publickey": lambda: ed25519_key(self.unique()), "userapikey": lambda: w.user_api_key,
            "type": lambda: "User",
        }
        if command in ("updateConfiguration", "resetConfiguration") and name == "name":
            return "webhook.dispatch.history.limit"
        if command == "deleteSSHKeyPair" and name == "name":
            return w.keypair_name
        if command == "deleteAccountFromProject" and name == "account":
            return w.member_name
        if ptype in ("uuid", "list") and (ent := self.entity(command, name)):
            return w.uuids.get(ent, str(uuid.uuid4()))
        if ptype == "uuid":
            return str(uuid.uuid4())
        if ptype == "boolean":
            return "false"
        if ptype in ("integer", "short", "long"):
            return "1"
        if ptype == "date":
            return "2026-01-01"
        if ptype == "map":
            return None
        return special.get(name, lambda: "fuzz")()

    def base(self, api: Api) -> dict[str, str]:
        """Valid values for the required parameters, the `id` of non-list commands and the
        few optional ones without which a command can only refuse."""
        extra = {"createUser": ("domainid",), "createAccount": ("accounttype",),
                 "updateConfiguration": ("value",),
                 "createRole": ("type",), "archiveEvents": ("ids",), "deleteEvents": ("ids",),
                 "executeWebhookDelivery": ("webhookid",), "addWebhookFilter": ("mode",)}
        wanted = set(extra.get(api.name, ()))
        listing = api.name.startswith("list")
        out: dict[str, str] = {}
        for param in api.params:
            name = param["name"]
            if param["required"] or name in wanted or (
                    name == "id" and not listing and api.name != "executeWebhookDelivery"):
                value = self.valid(api.name, param)
                if name == "value" and api.name == "updateConfiguration":
                    value = "100"
                if name == "mode":
                    value = "Include"
                if name == "accounttype":
                    value = "0"
                if value is not None:
                    out[name] = value
        return out

    def values(self, api: Api, param: dict[str, Any]) -> list[tuple[str, str]]:
        """One value of every pool; every value of the uuid pool for uuid parameters."""
        picks = [(pool, self.rng.choice(values)) for pool, values in POOLS.items()]
        if param["type"] == "uuid" or self.entity(api.name, param["name"]):
            picks += [("uuid", v) for v in POOLS["uuid"] if v != picks[-1][1]]
        if param["type"] == "string":
            # The longest value the parameter layer lets through: columns narrower than the
            # declared length must refuse it with an envelope, not a database error.
            picks.append(("max-length", "w" * int(param.get("length", 255))))
        return [(pool, self.hostile(api, param, value)) for pool, value in picks]

    def hostile(self, api: Api, param: dict[str, Any], value: str) -> str:
        ent = self.entity(api.name, param["name"]) or "Account"
        own = self.world.uuids.get(ent, str(uuid.uuid4()))
        if value == "@other":  # a live uuid of another kind of entity
            return self.world.root_domain_uuid if ent != "Domain" else self.world.uuids["User"]
        if value == "@upper":
            return own.upper()
        if value == "@space":
            return own + " "
        if value == "@quote":
            return own + "'"
        return value

    # --- one call ------------------------------------------------------------------------------

    def send(self, api: Api, pairs: list[tuple[str, str]], label: str, *,
             command: str | None = None, allow_401: bool = False) -> Answer | None:
        method, fmt = ROTATION[self.stats["calls"] % len(ROTATION)]
        self.stats["calls"] += 1
        where = f"{label} [{method} {fmt}]"
        try:
            ans = call(self.http, method, command or api.name, pairs, api_key=self.key,
                       secret=self.secret, fmt=fmt)
        except (AssertionError, ValueError) as exc:
            self.failures.append(f"{where}: {exc}")
            self.counts = table_counts(self.state)
            return None
        self.codes[ans.status] = self.codes.get(ans.status, 0) + 1
        if ans.status == 401 and not allow_401:
            self.failures.append(f"{where}: 401 for a correctly signed call: {ans.errortext}")
        after = table_counts(self.state)
        if ans.ok:
            self.stats["accepted"] += 1
            self.accepted_by[api.name] = self.accepted_by.get(api.name, 0) + 1
            self.last_digest = None
            if api.is_async and command is None:
                after = self.finish_job(ans, where, after)
            if api.name.startswith(CONSUMING):
                self.world = build_world(self.state, self.url)
                self.stats["rebuilt"] += 1
                after = table_counts(self.state)
        else:
            self.stats["rejected"] += 1
            diff = changed(self.counts, after)
            if diff:
                self.failures.append(f"{where}: refused with {ans.status} "
                                     f"({ans.errortext}) but wrote {diff}")
        self.counts = after
        return ans

    def finish_job(self, ans: Answer, where: str, before: dict[str, int]) -> dict[str, int]:
        """Wait for an accepted async job; a failed one may only have written its own rows."""
        self.stats["jobs"] += 1
        jobid = (ans.body.get("jobid") if ans.fmt == "json" else ans.body.findtext("jobid"))
        deadline = time.monotonic() + 20
        while True:
            with transaction(self.state.sessions) as db:
                job = db.scalar(select(AsyncJob).where(AsyncJob.uuid == jobid))
                status, result = (job.job_status, job.job_result) if job else (None, None)
            if status not in (0, None) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        after = table_counts(self.state)
        if status == 2:
            text = json.loads(result or "{}").get("errortext")
            if text == GENERIC_530:
                self.failures.append(f"{where}: job failed with an unhandled exception")
            diff = {t: d for t, d in changed(before, after).items() if t not in JOB_TABLES}
            if diff:
                self.failures.append(f"{where}: failed job ({text}) left rows: {diff}")
        elif status != 1:
            self.failures.append(f"{where}: job {jobid} never finished")
        return after

    # --- whole sweeps ----------------------------------------------------------------------------

    def digest(self) -> dict[str, str]:
        # Append-only tables are covered by the row counts; `event` rows only ever change
        # their archived flag.
        return table_digest(self.state, DIGESTED, columns={"event": "id, archived"})

    def fuzz_param(self, api: Api, param: dict[str, Any]) -> None:
        """Every value against one parameter; when all were refused, no row changed at all
        (a row count misses a half-written update)."""
        before = self.last_digest if self.last_digest is not None else self.digest()
        accepted_before = self.stats["accepted"]
        for pool, value in self.values(api, param):
            params = self.base(api)
            params[param["name"]] = value
            self.send(api, list(params.items()), f"{api.name} {param['name']}={pool}")
        if self.stats["accepted"] == accepted_before:
            self.last_digest = after = self.digest()
            diff = changed(before, after)
            if diff:
                self.failures.append(f"{api.name} {param['name']}: refused calls changed "
                                     f"the rows of {sorted(diff)}")

    def fuzz_names(self, api: Api) -> None:
        """Repeated, case-twisted, bracketed and odd parameter names, and a twisted command."""
        base = self.base(api)
        first = api.params[0]["name"] if api.params else "id"
        good = base.get(first) or (self.valid(api.name, api.params[0]) if api.params else None)
        good = good or "x"
        rest = [(k, v) for k, v in base.items() if k != first]
        bad = "' OR 1=1 --"
        variants = {
            "repeated": [*rest, (first, bad), (first, good)],
            "repeated-reversed": [*rest, (first, good), (first, bad)],
            "upper-name": [*rest, (first.upper(), good)],
            "twisted-name": [*rest, (first.swapcase(), good)],
            "both-cases": [*rest, (first, good), (first.upper(), bad)],
            "bracketed": [*rest, (first, good), (f"{first}[0].x", bad)],
            "empty-brackets": [*rest, (first, good), (f"{first}[]", bad)],
            "odd-names": [*base.items(), ("a'b", bad), ("x\r\ny", "1"), ("../x", "1"),
                          ("ünï", "1"), ("", "1")],
        }
        for label, pairs in variants.items():
            self.send(api, pairs, f"{api.name} names:{label}")
        self.send(api, list(base.items()), f"{api.name} names:command-case",
                  command=api.name.swapcase(), allow_401=True)


@pytest.fixture
def fuzzer(app, state, admin, monkeypatch) -> Iterator[Fuzzer]:  # type: ignore[no-untyped-def]
    # Cheaper key derivation and key generation: accepted creates would dominate the run.
    monkeypatch.setattr(crypto, "_ITERATIONS", 1000)
    monkeypatch.setattr(ssh_keypairs, "KEY_LENGTH", 1024)
    with transaction(state.sessions) as db:
        db.get(Configuration, "webhook.delivery.blocklist").value = LOOPBACK_ONLY
        db.get(Configuration, "webhook.delivery.timeout").value = "1"
    errors: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors.append(record)

    handler = Collect(logging.ERROR)
    logging.getLogger("csapi").addHandler(handler)
    fz = Fuzzer(app, state, admin)
    fz.logged = errors
    yield fz
    logging.getLogger("csapi").removeHandler(handler)
    print(f"\nfuzz: {fz.stats['calls']} cases run, {fz.stats['accepted']} accepted, "
          f"{fz.stats['rejected']} refused, {fz.stats['jobs']} async jobs, "
          f"{fz.stats['rebuilt']} throwaway rebuilds; codes {dict(sorted(fz.codes.items()))}")
    assert [r.getMessage() for r in errors] == [], "the server logged unhandled errors"


def report(fz: Fuzzer) -> None:
    assert not fz.failures, f"{len(fz.failures)} failures:\n" + "\n".join(fz.failures[:40])


def test_every_parameter_of_every_command(fuzzer: Fuzzer) -> None:
    apis = fuzzer.apis
    for api in apis:
        for param in api.params:
            fuzzer.fuzz_param(api, param)
        fuzzer.fuzz_names(api)
    report(fuzzer)
    # Depth: every command but the one that always refuses got past its checks at least once.
    assert sorted(a.name for a in apis if a.name not in fuzzer.accepted_by) == ["lockAccount"]
    params = sum(len(a.params) for a in apis)
    uuids = sum(1 for a in apis for p in a.params
                if p["type"] == "uuid" or fuzzer.entity(a.name, p["name"]))
    strings = sum(1 for a in apis for p in a.params if p["type"] == "string")
    assert fuzzer.stats["calls"] == (params * len(POOLS) + uuids * (len(POOLS["uuid"]) - 1)
                                     + strings + len(apis) * 9)
    assert fuzzer.stats["rejected"] > fuzzer.stats["calls"] // 2  # the values really are bad
    assert set(fuzzer.codes) <= {200, 401, 430, 431, 432, 530, 531}


def test_transport_oddities(fuzzer: Fuzzer) -> None:
    """Bodies CloudStack never expects still get an envelope."""
    http = fuzzer.http
    cases = [
        http.post("/client/api?response=json", data='{"command": "listApis"}',
                  content_type="application/json"),
        http.post("/client/api", data="<command>listApis</command>", content_type="text/xml"),
        http.post("/client/api?response=json", data=b"\xff\xfe\x00command=listApis",
                  content_type="application/x-www-form-urlencoded"),
        http.get("/client/api?response=json&command=listApis&keyword=%ff%fe%ed%a0%80"),
        http.get("/client/api?response=json&command=listApis&" + "a=b&" * 5000),
        http.get("/client/api?response=json&command=" + "A" * 10240),
        http.get("/client/api?response=json&command=listApis&apiKey=" + "%00" * 10),
    ]
    for resp, fmt in zip(cases, ("json", "xml", "json", "json", "json", "json", "json"),
                         strict=True):
        assert check_envelope(resp, fmt).status == 401, resp.get_data(as_text=True)


@settings(derandomize=True, max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_generated_values(fuzzer: Fuzzer, data: st.DataObject) -> None:
    """Hypothesis picks the command, the parameter and any text (every Unicode category but
    surrogates, which UTF-8 cannot carry)."""
    api = data.draw(st.sampled_from([a for a in fuzzer.apis if a.params]))
    param = data.draw(st.sampled_from(api.params))
    value = data.draw(st.text(st.characters(exclude_categories=("Cs",)), max_size=400)
                      | st.sampled_from([v for pool in POOLS.values() for v in pool]))
    params = fuzzer.base(api)
    params[param["name"]] = value
    seen = len(fuzzer.failures)
    fuzzer.send(api, list(params.items()), f"{api.name} {param['name']}={value!r:.60}")
    new, fuzzer.failures[seen:] = fuzzer.failures[seen:], []
    assert not new, "\n".join(new)


def test_the_checks_can_fail(fuzzer: Fuzzer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal after a committed write, and a crash, are reported by the sweep's checks."""
    api = next(a for a in fuzzer.apis if a.name == "updateDomain")
    name = next(p for p in api.params if p["name"] == "name")

    def half_written(ctx: Any, p: Any) -> None:
        ctx.db.get(Domain, 1).network_domain = "half.written"
        ctx.db.commit()
        raise InvalidParameterValue("refused after writing")

    def inserts(ctx: Any, p: Any) -> None:
        build_world(ctx.state, fuzzer.url)
        raise InvalidParameterValue("refused after inserting")

    def crashes(ctx: Any, p: Any) -> None:
        raise KeyError("boom")

    found = []
    for handler, expected in ((half_written, "refused calls changed the rows of ['domain']"),
                              (inserts, "but wrote {"),
                              (crashes, "an unhandled exception answered the generic 530")):
        monkeypatch.setattr(REGISTRY["updateDomain"], "handler", handler)
        fuzzer.fuzz_param(api, name)
        found.append(any(expected in f for f in fuzzer.failures))
        fuzzer.failures.clear()
    assert found == [True, True, True]
    assert {r.getMessage() for r in fuzzer.logged} == {"unhandled error in API request"}
    fuzzer.logged.clear()

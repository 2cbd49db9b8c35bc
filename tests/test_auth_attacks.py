"""Attacks on authentication: tampered and replayed signed requests, signatures reused with
extra parameters, keys and sessions of users who were disabled, locked or deleted, session
fixation, and constant-time comparisons. Every refusal is the same 401 envelope, and a refused
call writes nothing."""

from __future__ import annotations

import ast
import base64
import hmac
import inspect
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csapi import crypto
from csapi.api import servlet, signing
from csapi.db import transaction
from csapi.db.models import Account, User
from tests.factories import Tenant, create_tenant
from tests.hostile import changed, check_envelope, encode, signed_pairs, table_counts
from tests.tenancy_helpers import job_ok
from tests.wire import CREDENTIALS, sign

SESSION_TEXT = "unable to verify user credentials"
_compare_digest = hmac.compare_digest  # the real one, whatever a test patches
Pairs = list[tuple[str, str]]


@pytest.fixture
def http(app):  # type: ignore[no-untyped-def]
    return app.test_client(use_cookies=False)


@pytest.fixture
def victim(app, state) -> Tenant:  # type: ignore[no-untyped-def]
    return create_tenant(app, state, "victim")


def keyed(who: Tenant | Any, command: str, params: Pairs, method: str = "GET") -> Pairs:
    """A correctly signed request of `who` (a Tenant or the admin ApiClient)."""
    client = who.client if isinstance(who, Tenant) else who
    return signed_pairs(method, command, params, client.api_key, client.secret, "json")


def send(http: Any, pairs: Pairs, *, body: Pairs | None = None) -> Any:
    fmt = "json" if dict(pairs).get("response") == "json" else "xml"
    if body is not None:
        return check_envelope(http.post("/client/api?" + encode(pairs), data=encode(body),
                                        content_type="application/x-www-form-urlencoded"), fmt)
    return check_envelope(http.get("/client/api?" + encode(pairs)), fmt)


def refused(ans: Any) -> bool:
    """The one answer every authentication failure gets: no hint of what was wrong."""
    cs_code = (ans.body.get("cserrorcode") if ans.fmt == "json"
               else ans.body.findtext("cserrorcode"))
    return (ans.status, ans.errortext, cs_code) == (401, CREDENTIALS, None)


def replace(pairs: Pairs, name: str, value: str) -> Pairs:
    return [(k, value if k == name else v) for k, v in pairs]


def drop(pairs: Pairs, name: str) -> Pairs:
    return [(k, v) for k, v in pairs if k != name]


def user_row(state: Any, user_id: int) -> tuple[Any, ...]:
    with transaction(state.sessions) as db:
        u = db.get(User, user_id)
        return u.firstname, u.api_key, u.secret_key, u.state, u.removed


# --- tampering ---------------------------------------------------------------------------------

def tampered(good: Pairs, admin_key: str, other_secret: str) -> dict[str, Pairs]:
    sig = dict(good)["signature"]
    raw = base64.b64decode(sig)
    return {
        "value changed": replace(good, "firstname", "Mallory"),
        "value with a trailing space": replace(good, "firstname", "Victim "),
        "value with a null byte": replace(good, "firstname", "Victim\x00"),
        "parameter added": [*good, ("email", "mallory@example.com")],
        "parameter removed": drop(good, "firstname"),
        "parameter renamed": [(("first" if k == "firstname" else k), v) for k, v in good],
        "command changed": replace(good, "command", "updateAccount"),
        "response format changed": replace(good, "response", "xml"),
        "duplicate with another value (last wins)": [*good, ("firstname", "Mallory")],
        "another user's apiKey": replace(good, "apiKey", admin_key),
        "signature by another secret": replace(good, "signature", sign(
            other_secret, [p for p in good if p[0] != "signature"])),
        "signature truncated": replace(good, "signature", sig[:-4]),
        "signature url-safe alphabet": replace(good, "signature", base64.urlsafe_b64encode(
            raw[:-1] + bytes([raw[-1] ^ 1])).decode()),
        "signature one bit off": replace(good, "signature", base64.b64encode(
            raw[:-1] + bytes([raw[-1] ^ 1])).decode()),
        "signature empty": replace(good, "signature", ""),
        "signature missing": drop(good, "signature"),
        "second signature (last wins)": [*good, ("signature", "AAAA")],
        "apiKey missing": drop(good, "apiKey"),
    }


def test_tampered_requests_are_refused_and_write_nothing(http, state, admin, victim) -> None:
    good = keyed(victim, "updateUser", [("id", victim.user_uuid), ("firstname", "Victim")])
    before_row, before = user_row(state, victim.user_id), table_counts(state)
    for label, pairs in tampered(good, admin.api_key, admin.secret).items():
        ans = send(http, pairs)
        assert refused(ans), (label, ans.status, ans.errortext)
    assert user_row(state, victim.user_id) == before_row
    assert changed(before, table_counts(state)) == {}
    # The untouched request still works: the refusals were about the tampering.
    assert send(http, good).status == 200
    assert user_row(state, victim.user_id)[0] == "Victim"


def test_a_value_differing_only_in_letter_case_verifies(http, state, victim) -> None:
    """CloudStack lower-cases the whole canonical string before signing, so a value whose case
    was changed keeps its signature. Kept for compatibility with every CloudStack client; it
    gains an attacker nothing beyond replaying the request itself."""
    good = keyed(victim, "updateUser", [("id", victim.user_uuid), ("firstname", "victim")])
    assert send(http, replace(good, "firstname", "VICTIM")).status == 200
    assert user_row(state, victim.user_id)[0] == "VICTIM"


def test_form_body_cannot_smuggle_parameters_past_a_signed_query(http, state, victim) -> None:
    good = keyed(victim, "updateUser", [("id", victim.user_uuid), ("firstname", "Victim")])
    before = user_row(state, victim.user_id)
    # A new parameter in the body joins the parameter map, so the signature no longer fits.
    assert refused(send(http, good, body=[("lastname", "Mallory")]))
    assert user_row(state, victim.user_id) == before
    # A signed name repeated in the body: the query wins, the body's value is never used.
    assert send(http, good, body=[("firstname", "Mallory")]).status == 200
    assert user_row(state, victim.user_id)[0] == "Victim"


def test_signature_reused_with_added_parameters_cannot_widen_a_call(http, state, admin,
                                                                    victim) -> None:
    """The victim's signed, harmless requests; an attacker who captured them adds parameters
    to reach further (other users, other accounts, listall)."""
    with transaction(state.sessions) as db:
        admin_user = db.get(User, 2)
        admin_uuid = admin_user.uuid
    listing = keyed(victim, "listUsers", [])
    keys = keyed(victim, "registerUserKeys", [("id", victim.user_uuid)])
    before = table_counts(state)
    attempts = [
        [*listing, ("listall", "true")],
        [*listing, ("id", admin_uuid)],
        [*listing, ("account", "admin"), ("domainid", victim.domain_uuid)],
        [*listing, ("Listall", "true")],
        [*listing, ("listall[0].x", "true")],
        replace(keys, "id", admin_uuid),
        [*drop(keys, "id"), ("id", admin_uuid)],
        [*keys, ("id", admin_uuid)],
    ]
    for pairs in attempts:
        assert refused(send(http, pairs)), pairs
    assert changed(before, table_counts(state)) == {}
    with transaction(state.sessions) as db:
        assert db.get(User, 2).api_key == admin.api_key  # nobody re-keyed the admin
    users = send(http, listing)
    assert [u["username"] for u in users.body["user"]] == ["victim"]


# --- signatureVersion 3 -------------------------------------------------------------------------

def v3(who: Tenant, command: str, params: Pairs, expires: datetime) -> Pairs:
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%S+0000")
    return keyed(who, command, [*params, ("signatureVersion", "3"), ("expires", stamp)])


def test_v3_request_replayed_after_it_expired_is_refused(http, state, victim) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    request = v3(victim, "listUsers", [], expires)
    assert send(http, request).status == 200
    assert send(http, request).status == 200  # a replay before `expires` is CloudStack's norm
    while datetime.now(UTC) <= expires:
        time.sleep(0.1)
    assert refused(send(http, request))
    # Moving `expires` forward without re-signing does not help.
    later = (expires + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    assert refused(send(http, replace(request, "expires", later)))
    # Nor does dropping the version, so that `expires` would be ignored.
    assert refused(send(http, drop(request, "signatureVersion")))


@pytest.mark.parametrize("expires", ["2000-01-01T00:00:00+0000", "not-a-date", "",
                                     "9999-99-99T99:99:99+0000"])
def test_v3_with_a_past_or_broken_expires_is_refused(http, victim, expires: str) -> None:
    pairs = keyed(victim, "listUsers", [("signatureVersion", "3"), ("expires", expires)])
    assert refused(send(http, pairs))


# --- keys of users who may no longer call ----------------------------------------------------

def _disable_user(admin: Any, t: Tenant) -> None:
    job_ok(admin, "disableUser", id=t.user_uuid)


def _disable_account(admin: Any, t: Tenant) -> None:
    job_ok(admin, "disableAccount", id=t.account_uuid, lock=False)


def _lock_account(admin: Any, t: Tenant) -> None:
    job_ok(admin, "disableAccount", id=t.account_uuid, lock=True)


def _delete_account(admin: Any, t: Tenant) -> None:
    job_ok(admin, "deleteAccount", id=t.account_uuid)


# action -> (how the admin does it, how it is undone, or None when it can't be)
ACTIONS: dict[str, tuple[Callable[[Any, Tenant], None], Callable[[Any, Tenant], None] | None]] = {
    "disableUser": (_disable_user, lambda a, t: a.ok("enableUser", id=t.user_uuid)),
    "lockUser": (lambda a, t: a.ok("lockUser", id=t.user_uuid),
                 lambda a, t: a.ok("enableUser", id=t.user_uuid)),
    "deleteUser": (lambda a, t: a.ok("deleteUser", id=t.user_uuid), None),
    "disableAccount": (_disable_account, lambda a, t: a.ok("enableAccount", id=t.account_uuid)),
    "disableAccount lock": (_lock_account, lambda a, t: a.ok("enableAccount", id=t.account_uuid)),
    "deleteAccount": (_delete_account, None),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_keys_stop_working_at_once(http, app, state, admin, action: str) -> None:
    victim = create_tenant(app, state, "victim")
    listing = keyed(victim, "listUsers", [])
    assert send(http, listing).status == 200
    do, undo = ACTIONS[action]
    do(admin, victim)
    with transaction(state.sessions) as db:
        user, account = db.get(User, victim.user_id), db.get(Account, victim.account_id)
        assert (user.state, account.state, user.removed, account.removed) != (
            "enabled", "enabled", None, None)
    before = table_counts(state)
    assert refused(send(http, listing))
    assert refused(send(http, keyed(victim, "registerUserKeys", [("id", victim.user_uuid)])))
    assert changed(before, table_counts(state)) == {}
    if undo is not None:
        undo(admin, victim)
        assert send(http, listing).status == 200


def test_keys_of_a_user_in_a_disabled_account_with_the_user_enabled(http, app, state,
                                                                     admin) -> None:
    victim = create_tenant(app, state, "victim")
    job_ok(admin, "disableAccount", id=victim.account_uuid, lock=False)
    with transaction(state.sessions) as db:
        assert db.get(User, victim.user_id).state == "enabled"
    assert refused(send(http, keyed(victim, "listUsers", [])))


# --- sessions ------------------------------------------------------------------------------------

def login(http: Any, username: str, cookies: dict[str, str] | None = None) -> tuple[str, str]:
    """(JSESSIONID, sessionkey) of a fresh login."""
    resp = http.post("/client/api", data={"command": "login", "username": username,
                                          "password": "password", "response": "json"},
                     headers=_cookie_header(cookies))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    jar = {h.split("=", 1)[0]: h.split(";", 1)[0].split("=", 1)[1]
           for h in resp.headers.getlist("Set-Cookie")}
    assert jar["sessionkey"] == resp.get_json()["loginresponse"]["sessionkey"]
    return jar["JSESSIONID"], jar["sessionkey"]


def _cookie_header(cookies: dict[str, str] | None) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}


def session_call(http: Any, sid: str, key: str, command: str = "listUsers",
                 **params: str) -> Any:
    pairs = [("command", command), ("response", "json"), *params.items(), ("sessionkey", key)]
    return check_envelope(http.get("/client/api?" + encode(pairs),
                                   headers=_cookie_header({"JSESSIONID": sid,
                                                           "sessionkey": key})), "json")


def test_a_session_id_chosen_by_the_client_is_never_adopted(http, app, state, victim) -> None:
    chosen = "node0attackerchosen0000000.node0"
    sid, key = login(http, "victim", {"JSESSIONID": chosen, "sessionkey": "chosenkey"})
    assert sid != chosen and key != "chosenkey"
    assert session_call(http, sid, key).status == 200
    # The chosen id never became a session: with it, the request is an unsigned one.
    for k in (key, "chosenkey"):
        ans = session_call(http, chosen, k)
        assert (ans.status, ans.errortext) == (401, CREDENTIALS)


def test_login_over_a_live_session_issues_a_new_one_and_ends_the_old(http, app, state,
                                                                     victim) -> None:
    old_sid, old_key = login(http, "victim")
    sid, key = login(http, "victim", {"JSESSIONID": old_sid, "sessionkey": old_key})
    assert (sid, key) != (old_sid, old_key)
    assert session_call(http, old_sid, old_key).status == 401
    assert session_call(http, sid, key).status == 200


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_sessions_end_at_once(http, app, state, admin, action: str) -> None:
    victim = create_tenant(app, state, "victim")
    sid, key = login(http, "victim")
    assert session_call(http, sid, key).status == 200
    do, undo = ACTIONS[action]
    do(admin, victim)
    before = table_counts(state)
    ans = session_call(http, sid, key, "registerUserKeys", id=victim.user_uuid)
    assert (ans.status, ans.errortext) == (401, SESSION_TEXT)
    assert changed(before, table_counts(state)) == {}
    if undo is not None:
        undo(admin, victim)
        # The session was ended, not merely refused: it stays dead after re-enabling.
        assert session_call(http, sid, key).status == 401
        sid, key = login(http, "victim")
        assert session_call(http, sid, key).status == 200


# --- constant-time comparisons ----------------------------------------------------------------

class Spy:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    def __call__(self, a: Any, b: Any) -> bool:
        self.calls.append((a, b))
        return _compare_digest(a, b)


def test_signatures_are_compared_with_compare_digest(http, victim, monkeypatch) -> None:
    spy = Spy()
    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    good = keyed(victim, "listUsers", [])
    assert send(http, good).status == 200
    given = dict(good)["signature"].encode()
    assert [b for _, b in spy.calls] == [given]
    spy.calls.clear()
    assert refused(send(http, replace(good, "signature", "AAAA" + dict(good)["signature"][4:])))
    assert len(spy.calls) == 1


def _equality_on(func: Any, names: set[str]) -> list[str]:
    """`==`/`!=` comparisons in `func`'s source that involve one of `names`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq)
                                                 for op in node.ops):
            parts = [node.left, *node.comparators]
            if any(isinstance(p, ast.Name | ast.Attribute) and
                   (getattr(p, "id", None) or getattr(p, "attr", None)) in names
                   for p in parts):
                found.append(ast.unparse(node))
    return found


def test_no_secret_is_compared_with_plain_equality() -> None:
    """By inspection: signatures, session keys and password hashes go through
    hmac.compare_digest, never `==` (whose time depends on the first differing byte)."""
    assert "compare_digest" in inspect.getsource(signing.signature_matches)
    assert _equality_on(signing.signature_matches, {"signature", "given", "text"}) == []
    assert _equality_on(servlet.verify_signature, {"signature", "secret"}) == []
    assert _equality_on(servlet.dispatch, {"cookie_key", "param_key", "session_key"}) == []
    assert "compare_digest" in inspect.getsource(crypto.check_password)


def test_session_keys_are_compared_with_compare_digest(http, victim, monkeypatch) -> None:
    sid, key = login(http, "victim")
    spy = Spy()
    monkeypatch.setattr(servlet.hmac, "compare_digest", spy)
    assert session_call(http, sid, key).status == 200
    assert spy.calls and all(key.encode() in pair for pair in spy.calls)


def test_passwords_are_compared_with_compare_digest(http, victim, monkeypatch) -> None:
    spy = Spy()
    monkeypatch.setattr(crypto.hmac, "compare_digest", spy)
    login(http, "victim")
    assert len(spy.calls) == 1
    resp = http.post("/client/api", data={"command": "login", "username": "victim",
                                          "password": "wrong", "response": "json"})
    assert resp.status_code == 531 and len(spy.calls) == 2


"""Session authentication (spec §3): login by POST, the JSESSIONID and sessionkey cookies,
CookieAndParameter checks, logout, failed logins and locking, and the session check that runs
before any signature check."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from csapi.db import transaction
from csapi.db.models import Configuration, Event, User
from tests.factories import create_domain, create_tenant
from tests.wire import CREDENTIALS, query, signed

SESSION_TEXT = "unable to verify user credentials"
LOGIN_FIELDS = ["username", "userid", "domainid", "timeout", "account", "firstname", "lastname",
                "type", "registered", "sessionkey", "is2faenabled", "is2faverified",
                "issuerfor2fa"]


@pytest.fixture
def http(app):  # type: ignore[no-untyped-def]
    """No cookie jar: every test says exactly which cookies it sends."""
    return app.test_client(use_cookies=False)


def login(http: Any, username: str = "admin", password: str = "password",
          **extra: str) -> Any:
    form = {"command": "login", "username": username, "password": password,
            "response": "json", **extra}
    return http.post("/client/api", data=form)


def cookies_of(resp: Any) -> dict[str, str]:
    """name -> the raw Set-Cookie header."""
    return {h.split("=", 1)[0]: h for h in resp.headers.getlist("Set-Cookie")}


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


class Session:
    def __init__(self, resp: Any) -> None:
        assert resp.status_code == 200, resp.get_data(as_text=True)
        jar = cookies_of(resp)
        self.sid = cookie_value(jar["JSESSIONID"])
        self.key = cookie_value(jar["sessionkey"])

    def call(self, http: Any, command: str | None, *, key: str | None = "same",
             cookie_key: str | None = "same", sid: str | None = "same",
             params: dict[str, str] | None = None, method: str = "GET") -> Any:
        pairs = [("response", "json"), *(params or {}).items()]
        if command is not None:
            pairs.insert(0, ("command", command))
        if key is not None:
            pairs.append(("sessionkey", self.key if key == "same" else key))
        cookies = []
        if sid is not None:
            cookies.append(f"JSESSIONID={self.sid if sid == 'same' else sid}")
        if cookie_key is not None:
            cookies.append(f"sessionkey={self.key if cookie_key == 'same' else cookie_key}")
        headers = {"Cookie": "; ".join(cookies)} if cookies else {}
        if method == "POST":
            return http.post("/client/api", data=query(pairs), headers=headers,
                             content_type="application/x-www-form-urlencoded")
        return http.get("/client/api?" + query(pairs), headers=headers)


def error(resp: Any) -> tuple[int, str, dict[str, Any]]:
    data = resp.get_json()
    assert len(data) == 1
    envelope, body = next(iter(data.items()))
    return resp.status_code, envelope, body


# --- login ---------------------------------------------------------------------------------

def test_login_by_get_is_405_plain_text(http, subtests):
    for params in ("", "&response=json", "&username=admin&password=password"):
        with subtests.test(params):
            resp = http.get("/client/api?command=login" + params)
            assert resp.status_code == 405
            assert resp.get_data(as_text=True) == (
                "Please use HTTP POST to authenticate using this API")
            assert resp.headers["Content-Type"] == "text/plain; charset=UTF-8"
            assert "Set-Cookie" not in resp.headers


def test_login_answers_cloudstack_fields_and_sets_both_cookies(http, state):
    resp = login(http, domain="/")
    assert resp.status_code == 200
    body = resp.get_json()["loginresponse"]
    assert list(body) == LOGIN_FIELDS
    with transaction(state.sessions) as db:
        admin = db.get(User, 2)
        assert body["userid"] == admin.uuid
    assert body["username"] == "admin" and body["account"] == "admin"
    assert (body["firstname"], body["lastname"]) == ("Admin", "User")
    assert body["timeout"] == 1800 and body["type"] == "1"
    assert (body["registered"], body["is2faenabled"], body["is2faverified"],
            body["issuerfor2fa"]) == ("false", "false", "true", "CloudStack")
    assert re.fullmatch(r"[A-Za-z0-9_-]{27}", body["sessionkey"])
    jar = cookies_of(resp)
    assert set(jar) == {"JSESSIONID", "sessionkey"}
    assert re.fullmatch(r"JSESSIONID=node0[0-9a-f]+\.node0; HttpOnly; Path=/client",
                        jar["JSESSIONID"]), jar["JSESSIONID"]
    assert jar["sessionkey"].startswith(f"sessionkey={body['sessionkey']}; ")
    assert "HttpOnly" in jar["sessionkey"]
    with transaction(state.sessions) as db:
        event = db.scalars(select(Event).where(Event.type == "USER.LOGIN")).one()
        assert event.description == "user has logged in from IP Address 127.0.0.1"
        assert (event.user_id, event.account_id, event.state) == (2, 2, "Completed")


def test_session_calls_need_cookie_and_parameter(http):
    session = Session(login(http))
    ok = session.call(http, "listCapabilities")
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert ok.get_json()["listcapabilitiesresponse"]["capability"]["dynamicrolesenabled"]
    # POSTed forms work as well (cmk posts calls carrying passwords or userdata).
    assert session.call(http, "listCapabilities", method="POST").status_code == 200


def test_sessionkey_mismatch_is_401_and_ends_the_session(http, subtests):
    for broken in ("no-parameter", "no-cookie", "wrong-parameter", "wrong-cookie",
                   "both-wrong-but-equal", "no-jsessionid"):
        with subtests.test(broken):
            session = Session(login(http))
            # Change the first character to one it certainly is not (keys are random).
            wrong = ("y" if session.key[0] == "x" else "x") + session.key[1:]
            kwargs: dict[str, Any] = {
                "no-parameter": {"key": None},
                "no-cookie": {"cookie_key": None},
                "wrong-parameter": {"key": wrong},
                "wrong-cookie": {"cookie_key": wrong},
                "both-wrong-but-equal": {"key": "forged", "cookie_key": "forged"},
                "no-jsessionid": {"sid": None},
            }[broken]
            status, envelope, body = error(session.call(http, "listCapabilities", **kwargs))
            if broken == "no-jsessionid":  # no session at all: the signature check refuses
                assert (status, body["errortext"]) == (401, CREDENTIALS)
                assert session.call(http, "listCapabilities").status_code == 200
                continue
            assert (status, envelope) == (401, "listcapabilitiesresponse")
            assert body == {"uuidList": [], "errorcode": 401, "errortext": SESSION_TEXT}
            # The session is gone: even the right key now falls through to the signature.
            status, _, body = error(session.call(http, "listCapabilities"))
            assert (status, body["errortext"]) == (401, CREDENTIALS)


def test_unknown_jsessionid_falls_through_to_the_signature(http, admin):
    assert admin.api_key and admin.secret
    pairs = signed(admin.api_key, admin.secret, "listCapabilities")
    resp = http.get("/client/api?" + query(pairs),
                    headers={"Cookie": "JSESSIONID=node0unknown.node0; sessionkey=abc"})
    assert resp.status_code == 200


def test_live_session_is_checked_before_the_signature(http, admin):
    """A correctly signed request that also carries a live JSESSIONID but not its key is
    refused, and the session ends (clients with cookie jars rely on this)."""
    assert admin.api_key and admin.secret
    session = Session(login(http))
    pairs = signed(admin.api_key, admin.secret, "listCapabilities")
    resp = http.get("/client/api?" + query(pairs),
                    headers={"Cookie": f"JSESSIONID={session.sid}"})
    assert error(resp)[0::2] == (401, {"uuidList": [], "errorcode": 401,
                                       "errortext": SESSION_TEXT})
    assert http.get("/client/api?" + query(pairs)).status_code == 200
    assert error(session.call(http, "listCapabilities"))[0] == 401  # the session ended


def test_session_requests_are_not_signed(http):
    session = Session(login(http))
    resp = session.call(http, "listApis", params={"name": "listApis", "signature": "junk",
                                                 "apiKey": "nobody"})
    assert resp.status_code == 200
    assert resp.get_json()["listapisresponse"]["count"] == 1


def test_session_without_command_is_400(http):
    session = Session(login(http))
    status, envelope, body = error(session.call(http, None))
    assert (status, envelope) == (400, "errorresponse")
    assert body == {"uuidList": [], "errorcode": 400, "errortext": "no command specified"}


def test_session_unknown_command_is_432_errorresponse(http, app, state):
    session = Session(login(http))
    status, envelope, body = error(session.call(http, "listVirtualMachinez"))
    assert (status, envelope) == (432, "errorresponse")
    assert body == {"uuidList": [], "errorcode": 432, "cserrorcode": 9999,
                    "errortext": "Unknown API command: listVirtualMachinez"}
    # A normal user's role has no rule for it: the role checker answers first.
    create_tenant(app, state, "bob")
    user = Session(login(http, "bob"))
    status, envelope, body = error(user.call(http, "listVirtualMachinez"))
    assert (status, envelope, body["errortext"]) == (
        432, "errorresponse",
        "The API listVirtualMachinez does not exist or is not available for this account.")


def test_disabled_user_loses_the_session(http, app, state):
    tenant = create_tenant(app, state, "carol")
    session = Session(login(http, "carol"))
    assert session.call(http, "listCapabilities").status_code == 200
    with transaction(state.sessions) as db:
        db.get(User, tenant.user_id).state = "disabled"
    status, _, body = error(session.call(http, "listCapabilities"))
    assert (status, body["errortext"]) == (401, SESSION_TEXT)
    with transaction(state.sessions) as db:
        db.get(User, tenant.user_id).state = "enabled"
    assert error(session.call(http, "listCapabilities"))[2]["errortext"] == CREDENTIALS


def test_a_new_login_ends_the_previous_session(http):
    first = Session(login(http))
    resp = http.post("/client/api", data={"command": "login", "username": "admin",
                                          "password": "password", "response": "json"},
                     headers={"Cookie": f"JSESSIONID={first.sid}"})
    second = Session(resp)
    assert second.sid != first.sid and second.key != first.key
    assert error(first.call(http, "listCapabilities"))[0] == 401
    assert second.call(http, "listCapabilities").status_code == 200


def test_a_failed_login_also_ends_the_previous_session(http):
    first = Session(login(http))
    resp = http.post("/client/api", data={"command": "login", "username": "admin",
                                          "password": "wrong", "response": "json"},
                     headers={"Cookie": f"JSESSIONID={first.sid}"})
    assert resp.status_code == 531
    assert error(first.call(http, "listCapabilities"))[0] == 401


# --- logout --------------------------------------------------------------------------------

def test_logout_ends_the_session_and_clears_cookies(http, state):
    session = Session(login(http))
    resp = session.call(http, "logout")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == '{"logoutresponse":{"description":"success"}}'
    jar = cookies_of(resp)
    assert set(jar) == {"JSESSIONID", "sessionkey"}
    for header in jar.values():
        assert cookie_value(header) == ""
        assert "Max-Age=0" in header and "Path=/client" in header
    assert error(session.call(http, "listCapabilities"))[2]["errortext"] == CREDENTIALS
    with transaction(state.sessions) as db:
        event = db.scalars(select(Event).where(Event.type == "USER.LOGOUT")).one()
        assert (event.description, event.user_id) == ("user has logged out", 2)


def test_logout_without_a_session_still_succeeds(http, state):
    resp = http.get("/client/api?command=logout&response=json")
    assert resp.status_code == 200
    assert resp.get_json() == {"logoutresponse": {"description": "success"}}
    with transaction(state.sessions) as db:
        assert db.scalars(select(Event).where(Event.type == "USER.LOGOUT")).first() is None


# --- failed logins -------------------------------------------------------------------------

def test_bad_credentials_are_531_with_the_exact_text(http, subtests):
    for username, password in (("admin", "wrong"), ("admin", ""), ("nobody", "password"),
                               ("system", "password"), ("", "")):
        with subtests.test(username=username, password=password):
            resp = login(http, username, password)
            assert resp.status_code == 531
            assert resp.get_data(as_text=True) == (
                '{"loginresponse":{"uuidList":[],"errorcode":531,"errortext":"Failed to '
                f'authenticate user {username} in domain 1; please provide valid '
                'credentials"}}')
            assert "Set-Cookie" not in resp.headers


def test_unknown_domain_path(http, subtests):
    for domain, path in (("/nope", "/nope/"), ("nope", "/nope/"), ("/a/b/", "/a/b/")):
        with subtests.test(domain):
            resp = login(http, domain=domain)
            assert resp.status_code == 531
            assert resp.get_json()["loginresponse"]["errortext"] == (
                f"Unable to find the domain from the path {path}")


def test_login_in_a_sub_domain_by_path_and_by_domainid(http, app, state):
    domain_id, domain_uuid = create_domain(state, "child")
    create_tenant(app, state, "bob", domain_id=domain_id)
    assert login(http, "bob").status_code == 531  # not in ROOT
    for extra in ({"domain": "/child"}, {"domain": "child/"}, {"domain": "/ROOT/child/"},
                  {"domainid": domain_uuid}, {"domainid": str(domain_id)},
                  {"domainid": domain_uuid, "domain": "/nowhere"}):
        resp = login(http, "bob", **extra)
        assert resp.status_code == 200, (extra, resp.get_data(as_text=True))
        assert resp.get_json()["loginresponse"]["domainid"] == domain_uuid
    resp = login(http, "bob", domain="/child")
    assert resp.get_json()["loginresponse"]["type"] == "0"


def test_invalid_domainid_is_401(http, subtests):
    for domainid in ("garbage", "12ab", "00000000-0000-0000-0000-000000000000"):
        with subtests.test(domainid):
            status, envelope, body = error(login(http, domainid=domainid))
            assert (status, envelope) == (401, "loginresponse")
            assert body == {"uuidList": [], "errorcode": 401,
                            "errortext": "Invalid domain id entered, please enter a valid one"}


def _set(state: Any, name: str, value: str) -> None:
    with transaction(state.sessions) as db:
        db.get(Configuration, name).value = value


def test_failed_logins_lock_a_user_and_success_resets_the_count(http, app, state):
    _set(state, "incorrect.login.attempts.allowed", "3")
    tenant = create_tenant(app, state, "dave")
    for _ in range(2):
        assert login(http, "dave", "bad").status_code == 531
    assert login(http, "dave").status_code == 200  # resets the count
    for _ in range(2):
        assert login(http, "dave", "bad").status_code == 531
    with transaction(state.sessions) as db:
        assert db.get(User, tenant.user_id).state == "enabled"
    assert login(http, "dave", "bad").status_code == 531  # the third in a row locks
    with transaction(state.sessions) as db:
        user = db.get(User, tenant.user_id)
        assert (user.state, user.login_attempts) == ("locked", 3)
    resp = login(http, "dave")
    assert resp.status_code == 531
    assert resp.get_json()["loginresponse"]["errortext"] == (
        "User dave (or their account) in domain ROOT is disabled/locked. Please contact the "
        "administrator.")
    # A wrong password never reveals the state.
    assert login(http, "dave", "bad").get_json()["loginresponse"]["errortext"] == (
        "Failed to authenticate user dave in domain 1; please provide valid credentials")


def test_admin_accounts_are_never_locked_out(http, state):
    _set(state, "incorrect.login.attempts.allowed", "2")
    for _ in range(4):
        assert login(http, "admin", "bad").status_code == 531
    assert login(http).status_code == 200


def test_disabled_account_cannot_log_in(http, app, state):
    from csapi.db.models import Account

    tenant = create_tenant(app, state, "erin")
    with transaction(state.sessions) as db:
        db.get(Account, tenant.account_id).state = "disabled"
    assert login(http, "erin").get_json()["loginresponse"]["errortext"] == (
        "User erin (or their account) in domain ROOT is disabled/locked. Please contact the "
        "administrator.")

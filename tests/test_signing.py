"""Request signing (spec §2): the published test vectors, over the wire too, Java URL
encoding, signatureVersion 3 and `expires`, and every way a signature check must fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from csapi.api.registry import REGISTRY, Kind, ListResult, Param, SuccessResult, command, obj
from csapi.api.signing import canonical_string, compute_signature, java_url_encode
from csapi.db import transaction
from csapi.db.models import Account, Configuration, Event, User
from tests.wire import CREDENTIALS, expires_in, go_encode, java_encode, query, sign, signed

BASE = [("apiKey", "foo"), ("command", "listVirtualMachines"), ("response", "json")]
# (parameters as sent, canonical string, signature) — spec §2, API key foo, secret bar.
VECTORS: list[tuple[list[tuple[str, str]], str, str]] = [
    (BASE + [("listall", "true")],
     "apikey=foo&command=listvirtualmachines&listall=true&response=json",
     "B0d6hBsZTcFVCiioSxzwKA9Pke8="),
    (BASE + [("zoneId", "2"), ("templateId", "3"), ("temPlateidd", "4"), ("pageSize", "10"),
             ("page", "1")],
     "apikey=foo&command=listvirtualmachines&page=1&pagesize=10&response=json&templateidd=4"
     "&templateid=3&zoneid=2",
     "mMS7XALuGkCXk7kj5SywySku0Z0="),
    (BASE + [("listall", "1"), ("unicode_param", "éèààû")],
     "apikey=foo&command=listvirtualmachines&listall=1&response=json"
     "&unicode_param=%c3%a9%c3%a8%c3%a0%c3%a0%c3%bb",
     "gABU/KFJKD3FLAgKDuxQoryu4sA="),
    (BASE + [("foo", "foo,bar"), ("bar[0].baz", "blah"), ("bar[0].foo", "1000"),
             ("bytes_param", "blah")],
     "apikey=foo&bar[0].baz=blah&bar[0].foo=1000&bytes_param=blah&command=listvirtualmachines"
     "&foo=foo%2cbar&response=json",
     "ImJ/5F0P2RDL7yn4LdLnGcEx5WE="),
    ([("apiKey", "foo"), ("command", "scaleVirtualMachine"), ("response", "json"), ("id", "a"),
      ("details[0].cpunumber", "1000"), ("details[0].memory", "640k")],
     "apikey=foo&command=scalevirtualmachine&details[0].cpunumber=1000&details[0].memory=640k"
     "&id=a&response=json",
     "ZNl66z3gFhnsx2Eo3vvCIM0kAgI="),
    ([("apiKey", "foo"), ("command", "createNetwork"), ("response", "json"), ("name", ""),
      ("display_text", "")],
     "apikey=foo&command=createnetwork&display_text=&name=&response=json",
     "CistTEiPt/4Rv1v4qSyILvPbhmg="),
    (BASE + [("blah", "brah")],
     "apikey=foo&blah=brah&command=listvirtualmachines&response=json",
     "58VvLSaVUqHnG9DhXNOAiDFwBoA="),
]
VECTOR_IDS = ["listall", "case-sensitive-sort", "unicode", "list-and-map", "details-map",
              "empty-values", "post-body"]
UNAUTHORIZED_BODY = ('{"listapisresponse":{"uuidList":[],"errorcode":401,'
                     f'"errortext":"{CREDENTIALS}"}}}}')


@pytest.mark.parametrize(("pairs", "text", "signature"), VECTORS, ids=VECTOR_IDS)
def test_vectors_canonical_string_and_signature(pairs, text, signature):
    assert canonical_string(pairs) == text
    assert compute_signature("bar", pairs) == signature
    assert sign("bar", pairs) == signature  # the tests' own reference signer agrees


def test_vector_sorted_after_lower_casing_is_a_different_signature():
    pairs = VECTORS[1][0]
    lowered = sign("bar", pairs, sort_key=lambda kv: (kv[0].lower(), kv[1]))
    assert lowered == "GN/H2DT9Phd/s9djmht3lJxsAts="
    assert lowered != compute_signature("bar", pairs)


@pytest.mark.parametrize(("value", "encoded"), [
    ("~", "%7E"), ("a b", "a%20b"), ("*", "*"), ("a+b", "a%2Bb"), ("[0]", "%5B0%5D"),
    ("/", "%2F"), (",", "%2C"), ("-_.", "-_."), ("é", "%C3%A9"), ("=&", "%3D%26"),
    ("€", "%E2%82%AC"), ("'!()", "%27%21%28%29"),
])
def test_java_url_encoder(value, encoded):
    assert java_url_encode(value) == encoded
    assert java_encode(value) == encoded


# --- over the wire ----------------------------------------------------------------------

@pytest.fixture
def http(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def foo_bar(state) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The seeded admin holds the spec's test keys: API key `foo`, secret `bar`."""
    with transaction(state.sessions) as db:
        user = db.get(User, 2)
        user.api_key, user.secret_key = "foo", state.secrets.encrypt("bar")
    return "foo", "bar"


@pytest.fixture
def vector_commands() -> Iterator[None]:
    """The commands the vectors name, as stubs, so the published signatures are checked by
    the server itself (removed again afterwards)."""
    vm = obj("virtualmachine", ("id", "string", "the ID"))
    added = []
    for name, kind, params in (
        ("listVirtualMachines", Kind.LIST, [Param("listall", "boolean"), Param("zoneid")]),
        ("scaleVirtualMachine", Kind.SYNC, [Param("id", required=True),
                                            Param("details", "map")]),
        ("createNetwork", Kind.SYNC, [Param("name"), Param("displaytext")]),
    ):
        if name in REGISTRY:
            continue

        def handler(ctx: Any, p: Any, _kind: Kind = kind) -> Any:
            return ListResult([], 0) if _kind is Kind.LIST else SuccessResult()

        command(name, description="test stub", params=params,
                response=vm if kind is Kind.LIST else None, kind=kind)(handler)
        added.append(name)
    yield
    for name in added:
        REGISTRY.pop(name, None)


def call(http, pairs, *, method: str = "GET", body_pairs=()):  # type: ignore[no-untyped-def]
    if method == "POST":
        resp = http.post("/client/api?" + query(pairs), data=query(body_pairs),
                         content_type="application/x-www-form-urlencoded")
    else:
        resp = http.get("/client/api?" + query(pairs))
    return resp.status_code, resp.get_data(as_text=True)


def test_server_accepts_every_published_vector(http, foo_bar, vector_commands, subtests):
    for (pairs, _text, signature), case in zip(VECTORS, VECTOR_IDS, strict=True):
        with subtests.test(case):
            sent = [*pairs, ("signature", signature)]
            if case == "post-body":  # blah=brah travels in the form body
                status, body = call(http, [p for p in sent if p[0] != "blah"], method="POST",
                                    body_pairs=[("blah", "brah")])
            else:
                status, body = call(http, sent)
            assert status == 200, body
            envelope = dict(pairs)["command"].lower() + "response"
            assert list(json.loads(body)) == [envelope]


def test_server_refuses_the_lower_cased_sort(http, foo_bar, vector_commands):
    pairs = VECTORS[1][0]
    status, body = call(http, [*pairs, ("signature", "GN/H2DT9Phd/s9djmht3lJxsAts=")])
    assert status == 401
    assert json.loads(body)["listvirtualmachinesresponse"]["errortext"] == CREDENTIALS


def test_every_parameter_is_signed_even_unknown_and_bracketed_ones(http, foo_bar):
    params = [("unicode_param", "éèààû"), ("foo", "foo,bar"), ("bar[0].baz", "blah"),
              ("tags[0].key", "a b"), ("Listall", "true"), ("empty", "")]
    status, body = call(http, signed("foo", "bar", "listApis", params))
    assert status == 200, body
    assert json.loads(body)["listapisresponse"]["count"] > 1


def test_form_body_parameters_are_signed_and_query_wins(http, foo_bar):
    pairs = signed("foo", "bar", "listApis", [("name", "listApis")])
    # Everything in the body.
    resp = http.post("/client/api", data=query(pairs),
                     content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    # The same name in body and query: the query value is the one verified and used.
    resp = http.post("/client/api?" + query(pairs), data="name=login",
                     content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    assert [a["name"] for a in resp.get_json()["listapisresponse"]["api"]] == ["listApis"]


def test_tilde_and_brackets_java_style_and_client_style(http, foo_bar, subtests):
    """Java encodes `~` as %7E (the canonical form); cs, cmk, libcloud and Marvin leave it raw,
    libcloud also `[`/`]` — csapi accepts those encodings of the same values too."""
    for value in ("a~b", "x[1]", "~[~]~"):
        with subtests.test(value):
            java = signed("foo", "bar", "listApis", [("keyword", value)])
            assert canonical_string(java).count("%7e") == value.count("~")
            assert call(http, java)[0] == 200
            raw_tilde = signed("foo", "bar", "listApis", [("keyword", value)],
                               encode=lambda v: quote_keep(v, "*~"))
            assert call(http, raw_tilde)[0] == 200
            libcloud = signed("foo", "bar", "listApis", [("keyword", value)],
                              encode=lambda v: quote_keep(v, "*~[]"))
            assert call(http, libcloud)[0] == 200
            other = signed("foo", "bar", "listApis", [("keyword", value + "x")])
            tampered = [(k, value if k == "keyword" else v) for k, v in other]
            assert call(http, tampered)[0] == 401


def quote_keep(value: str, safe: str) -> str:
    from urllib.parse import quote as q

    return q(value, safe=safe)


def test_cmk_style_signature_is_accepted(http, foo_bar):
    """cmk signs values with Go's QueryEscape (spaces %20, `*` raw) and no expires."""
    params = [("keyword", "a b*c/d,e"), ("listall", "true")]
    status, body = call(http, signed("foo", "bar", "listApis", params, encode=go_encode))
    assert status == 200, body


# --- signatureVersion 3 --------------------------------------------------------------------

EXPIRES_FORMS = [
    "%Y-%m-%dT%H:%M:%SZ",            # cloudstack-go (RFC 3339)
    "%Y-%m-%dT%H:%M:%S+00:00",
    "%Y-%m-%dT%H:%M:%S%z",           # cs: +0000
    "%Y-%m-%dT%H:%M:%S.%fZ",         # fractional seconds, 6 digits
    "%Y-%m-%dT%H:%M:%S.123+0000",    # 3 digits
    "%Y-%m-%dT%H:%M:%SZ+0000",       # the legacy 'Z'Z form
]


def test_signature_version_3_accepts_every_expires_form(http, foo_bar, subtests):
    for fmt in EXPIRES_FORMS:
        with subtests.test(fmt):
            params = [("signatureVersion", "3"), ("expires", expires_in(300, fmt))]
            status, body = call(http, signed("foo", "bar", "listApis", params))
            assert status == 200, (fmt, body)
            past = [("signatureVersion", "3"), ("expires", expires_in(-2, fmt))]
            assert call(http, signed("foo", "bar", "listApis", past)) == (401,
                                                                          UNAUTHORIZED_BODY)


def test_signature_version_names_in_any_case(http, foo_bar, subtests):
    for names in (("signatureversion", "expires"), ("SignatureVersion", "Expires")):
        with subtests.test(names[0]):
            params = [(names[0], "3"), (names[1], expires_in(300))]
            assert call(http, signed("foo", "bar", "listApis", params))[0] == 200
            expired = [(names[0], "3"), (names[1], expires_in(-5))]
            assert call(http, signed("foo", "bar", "listApis", expired))[0] == 401


def test_expires_offsets_are_applied(http, foo_bar):
    from datetime import UTC, datetime, timedelta, timezone

    plus_one = timezone(timedelta(hours=1))
    # Local time 30 minutes ahead of UTC "now" but in +01:00: really 30 minutes ago.
    past = (datetime.now(UTC) + timedelta(minutes=30)).replace(tzinfo=plus_one)
    future = (datetime.now(UTC) + timedelta(minutes=90)).replace(tzinfo=plus_one)
    for value, status in ((past.strftime("%Y-%m-%dT%H:%M:%S%z"), 401),
                          (future.strftime("%Y-%m-%dT%H:%M:%S%z"), 200),
                          (future.strftime("%Y-%m-%dT%H:%M:%S+01:00"), 200)):
        params = [("signatureVersion", "3"), ("expires", value)]
        assert call(http, signed("foo", "bar", "listApis", params))[0] == status, value


def test_expired_or_unparseable_expires_is_401(http, foo_bar, subtests):
    for expires in (expires_in(-1), expires_in(-3600, "%Y-%m-%dT%H:%M:%SZ"), "2030-01-01",
                    "2030-01-01 10:00:00", "tomorrow", "2030-13-01T00:00:00Z",
                    "2030-01-01T10:00:00", "", "2030-01-01T25:00:00+0000",
                    "2030-01-01T10:00:00.1234567Z"):
        with subtests.test(expires):
            params = [("signatureVersion", "3"), ("expires", expires)]
            status, body = call(http, signed("foo", "bar", "listApis", params))
            assert (status, body) == (401, UNAUTHORIZED_BODY)


def test_version_3_without_expires_is_401(http, foo_bar):
    status, body = call(http, signed("foo", "bar", "listApis", [("signatureVersion", "3")]))
    assert (status, body) == (401, UNAUTHORIZED_BODY)


def test_expires_is_ignored_without_version_3(http, foo_bar):
    for params in ([("expires", expires_in(-3600))], [("signatureVersion", "2"),
                                                      ("expires", "garbage")]):
        assert call(http, signed("foo", "bar", "listApis", params))[0] == 200


def test_enforced_timestamps_need_version_3_and_a_near_expiry(http, foo_bar, state):
    with transaction(state.sessions) as db:
        db.get(Configuration, "enforce.post.requests.and.timestamps").value = "true"
    assert call(http, signed("foo", "bar", "listApis"))[0] == 401
    far = [("signatureVersion", "3"), ("expires", expires_in(20 * 60))]
    assert call(http, signed("foo", "bar", "listApis", far))[0] == 401
    near = [("signatureVersion", "3"), ("expires", expires_in(14 * 60))]
    assert call(http, signed("foo", "bar", "listApis", near))[0] == 200


# --- every failure is the same 401 ------------------------------------------------------

def _without(pairs, name):  # type: ignore[no-untyped-def]
    return [p for p in pairs if p[0] != name]


def _replace(pairs, name, value):  # type: ignore[no-untyped-def]
    return [(k, value if k == name else v) for k, v in pairs]


def test_bad_signatures_are_401_with_the_exact_envelope(http, foo_bar, subtests):
    good = signed("foo", "bar", "listApis", [("name", "listApis")])
    assert call(http, good)[0] == 200
    cases = {
        "wrong-key": signed("nope", "bar", "listApis", [("name", "listApis")]),
        "wrong-secret": signed("foo", "baz", "listApis", [("name", "listApis")]),
        "tampered": _replace(good, "name", "listCapabilities"),
        "added": [*good, ("listall", "true")],
        "removed": _without(good, "name"),
        "no-signature": _without(good, "signature"),
        "no-apikey": _without(good, "apiKey"),
        "empty-signature": _replace(good, "signature", ""),
        "signature-case": _replace(good, "signature", sign("bar", good).lower()),
        "name-case-changed": [("Name" if k == "name" else k, v) for k, v in good],
    }
    for case, pairs in cases.items():
        with subtests.test(case):
            assert call(http, pairs) == (401, UNAUTHORIZED_BODY)
    with subtests.test("command-value-case"):
        # `command` values are case-sensitive: a signed listapis is an unknown command.
        status, body = call(http, signed("foo", "bar", "listapis"))
        assert status == 401
        assert json.loads(body) == {"errorresponse": {"uuidList": [], "errorcode": 401,
                                                      "errortext": CREDENTIALS}}


def test_lower_case_apikey_name_is_accepted(http, foo_bar):
    pairs = [("command", "listApis"), ("apikey", "foo"), ("response", "json")]
    assert call(http, [*pairs, ("Signature", sign("bar", pairs))])[0] == 200


def test_unsigned_and_unknown_commands_are_401(http, foo_bar):
    for pairs in ([("command", "listApis"), ("response", "json")],
                  signed("foo", "bar", "noSuchCommand")):
        status, body = call(http, pairs)
        assert status == 401
        assert json.loads(body)[next(iter(json.loads(body)))]["errortext"] == CREDENTIALS


def test_unusable_users_get_401(http, foo_bar, state, subtests):
    from datetime import datetime

    good = signed("foo", "bar", "listApis")
    assert call(http, good)[0] == 200
    changes: dict[str, tuple[type, int, str, Any, Any]] = {
        "user-disabled": (User, 2, "state", "disabled", "enabled"),
        "user-locked": (User, 2, "state", "locked", "enabled"),
        "account-disabled": (Account, 2, "state", "disabled", "enabled"),
        "account-locked": (Account, 2, "state", "locked", "enabled"),
        "user-removed": (User, 2, "removed", datetime.utcnow(), None),
        "key-access-off": (User, 2, "api_key_access", False, None),
    }
    for what, (model, row_id, column, bad, restore) in changes.items():
        with subtests.test(what):
            with transaction(state.sessions) as db:
                setattr(db.get(model, row_id), column, bad)
            status, body = call(http, good)
            with transaction(state.sessions) as db:
                setattr(db.get(model, row_id), column, restore)
            assert (status, body) == (401, UNAUTHORIZED_BODY)
            parsed = json.loads(body)["listapisresponse"]
            assert "cserrorcode" not in parsed and parsed["uuidList"] == []
            assert call(http, good)[0] == 200


def test_api_key_access_falls_back_from_user_to_account(http, foo_bar, state):
    good = signed("foo", "bar", "listApis")
    with transaction(state.sessions) as db:
        db.get(Account, 2).api_key_access = False
    assert call(http, good)[0] == 401
    with transaction(state.sessions) as db:
        db.get(User, 2).api_key_access = True  # the user's own flag wins
    assert call(http, good)[0] == 200


def test_a_refused_call_changes_nothing(http, foo_bar, state):
    def snapshot() -> tuple[Any, ...]:
        with transaction(state.sessions) as db:
            user = db.get(User, 2)
            return user.api_key, user.secret_key, db.scalar(select(func.count(Event.id)))

    before = snapshot()
    with transaction(state.sessions) as db:
        user_uuid = db.get(User, 2).uuid
    good = signed("foo", "bar", "registerUserKeys", [("id", user_uuid)])
    assert call(http, _replace(good, "response", "xml"))[0] == 401
    assert call(http, [*good, ("extra", "1")])[0] == 401
    assert snapshot() == before

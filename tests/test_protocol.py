"""Response envelopes (spec §4, §5): JSON and XML carry the same data, XML is always
well-formed and the default, exact content types, list `count` and paging, null omission,
dates, headers and the endpoint's spellings."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from csapi.db import transaction
from csapi.db.models import Domain, User
from tests.client import ApiClient
from tests.wire import CREDENTIALS, JSON_TYPE, XML_TYPE, query, signed, xml_matches_json

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000$")
SECURITY = {"X-Content-Type-Options": "nosniff", "X-XSS-Protection": "1;mode=block"}


@pytest.fixture
def http(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def get(http: Any, admin: ApiClient, command: str, params: list[tuple[str, str]] | None = None,
        response: str | None = "json", path: str = "/client/api") -> Any:
    assert admin.api_key and admin.secret
    pairs = signed(admin.api_key, admin.secret, command, params or [], response=response)
    return http.get(f"{path}?{query(pairs)}")


def both(http: Any, admin: ApiClient, command: str,
         params: list[tuple[str, str]] | None = None) -> tuple[Any, Any]:
    as_json = get(http, admin, command, params)
    as_xml = get(http, admin, command, params, response="xml")
    assert as_json.status_code == as_xml.status_code
    assert as_json.headers["Content-Type"] == JSON_TYPE
    assert as_xml.headers["Content-Type"] == XML_TYPE
    xml_matches_json(as_xml.get_data(as_text=True), as_json.get_data(as_text=True))
    return as_json, as_xml


# --- JSON and XML --------------------------------------------------------------------------

SAME_DATA_CALLS = [
    ("listApis", []),                                   # nested lists of objects
    ("listApis", [("name", "createAccount")]),
    ("listCapabilities", []),                           # a single object, booleans, numbers
    ("listAccounts", [("listall", "true")]),            # objects with sub-lists
    ("listUsers", []),
    ("listDomains", []),
    ("listZones", []),
    ("listAsyncJobs", []),                              # empty list: {}
    ("listApis", [("page", "9"), ("pagesize", "50")]),  # beyond the end: {"count": N}
]


def test_json_and_xml_carry_the_same_data(http, admin, subtests):
    for command, params in SAME_DATA_CALLS:
        with subtests.test(command=command, params=params):
            as_json, _ = both(http, admin, command, params)
            assert as_json.status_code == 200, as_json.get_data(as_text=True)


def test_errors_carry_the_same_data_in_json_and_xml(http, admin, subtests):
    for command, params, status in (
        ("listApis", [("pagesize", "x<&>'\"")], 431),       # error text echoing markup
        ("listApis", [("name", "noSuchApi")], 530),
        ("queryAsyncJobResult", [], 431),                    # missing parameter
    ):
        with subtests.test(command=command, params=params):
            as_json, as_xml = both(http, admin, command, params)
            assert as_json.status_code == status
            body = json.loads(as_json.get_data(as_text=True))[command.lower() + "response"]
            assert list(body)[:2] == ["uuidList", "errorcode"] and body["uuidList"] == []
            root = ET.fromstring(as_xml.get_data())
            assert root.find("errorcode").text == str(status)
            assert root.find("uuidList") is None  # only written when it has entries


def test_unauthenticated_error_in_both_formats(http):
    as_json = http.get("/client/api?command=listApis&response=json")
    as_xml = http.get("/client/api?command=listApis")
    xml_matches_json(as_xml.get_data(as_text=True), as_json.get_data(as_text=True))
    assert as_json.get_json() == {"listapisresponse": {
        "uuidList": [], "errorcode": 401, "errortext": CREDENTIALS}}


def test_login_response_in_both_formats(http):
    form = {"command": "login", "username": "admin", "password": "password", "domain": "/"}
    as_json = http.post("/client/api", data={**form, "response": "json"})
    as_xml = http.post("/client/api", data=form)
    assert (as_json.status_code, as_xml.status_code) == (200, 200)
    data = as_json.get_json()["loginresponse"]
    # Only the session key differs between two logins.
    xml_text = as_xml.get_data(as_text=True)
    xml_key = ET.fromstring(as_xml.get_data()).find("sessionkey").text
    xml_matches_json(xml_text.replace(xml_key, data["sessionkey"]),
                     as_json.get_data(as_text=True))


def test_xml_stays_well_formed_with_markup_and_control_characters_in_data(http, admin, state):
    with transaction(state.sessions) as db:
        user = db.get(User, 2)
        user.firstname = "<b>&amp;\"'</b>"
        user.lastname = "bell\x07null\x00tab\tend"
    resp = get(http, admin, "listUsers", response="xml")
    root = ET.fromstring(resp.get_data())  # raises if not well-formed
    user_elem = root.find("user")
    assert user_elem.find("firstname").text == "<b>&amp;\"'</b>"
    assert user_elem.find("lastname").text == "bell\ufffdnull\ufffdtab\tend"
    as_json = get(http, admin, "listUsers").get_json()["listusersresponse"]["user"][0]
    assert as_json["firstname"] == "<b>&amp;\"'</b>"  # JSON carries it raw, unescaped
    assert as_json["lastname"] == "bell\x07null\x00tab\tend"


def test_xml_shape_exactly(http, admin):
    text = get(http, admin, "listCapabilities", response=None).get_data(as_text=True)
    assert re.match(r'^<\?xml version="1\.0" encoding="UTF-8"\?><listcapabilitiesresponse '
                    r'cloud-stack-version="[0-9.]+"><capability><securitygroupsenabled>false'
                    r"</securitygroupsenabled>", text), text[:200]
    assert text.endswith("</capability></listcapabilitiesresponse>")
    assert "\n" not in text


def test_response_format_and_exact_content_type(http, admin, subtests):
    for response, content_type in ((None, XML_TYPE), ("xml", XML_TYPE), ("json", JSON_TYPE),
                                   ("JSON", JSON_TYPE), ("Json", JSON_TYPE),
                                   ("yaml", XML_TYPE), ("", XML_TYPE)):
        with subtests.test(response=response):
            resp = get(http, admin, "listCapabilities", response=response)
            assert resp.status_code == 200
            assert resp.headers["Content-Type"] == content_type
            if content_type == JSON_TYPE:
                assert list(resp.get_json()) == ["listcapabilitiesresponse"]
            else:
                assert ET.fromstring(resp.get_data()).tag == "listcapabilitiesresponse"


def test_trailing_slash_is_the_same_endpoint(http, admin):
    plain = get(http, admin, "listCapabilities")
    slash = get(http, admin, "listCapabilities", path="/client/api/")
    assert slash.status_code == 200
    assert slash.get_json() == plain.get_json()


def test_security_headers_on_success_and_error(http, admin):
    for resp in (get(http, admin, "listCapabilities"), http.get("/client/api"),
                 http.get("/client/api?command=login")):
        for name, value in SECURITY.items():
            assert resp.headers[name] == value, (resp.status_code, name)
        assert resp.headers["Content-Security-Policy"] == (
            "default-src 'none'; frame-ancestors 'none'")


def test_errors_describe_themselves_in_x_description(http, admin):
    resp = get(http, admin, "listApis", [("pagesize", "abc")])
    text = "Unable to execute API command listapis due to invalid value abc for parameter pagesize"
    assert resp.get_json()["listapisresponse"]["errortext"] == text
    assert resp.headers["X-Description"] == text


# --- lists and paging ----------------------------------------------------------------------

def test_list_count_is_the_total_and_the_page_holds_pagesize(admin):
    everything = admin.ok("listApis")
    total = everything["count"]
    assert total == len(everything["api"]) > 10
    assert list(everything) == ["count", "api"]
    first = admin.ok("listApis", page=1, pagesize=4)
    second = admin.ok("listApis", page=2, pagesize=4)
    assert first["count"] == second["count"] == total
    assert len(first["api"]) == len(second["api"]) == 4
    names = [a["name"] for a in everything["api"]]
    assert [a["name"] for a in first["api"] + second["api"]] == names[:8]
    last_page = (total + 3) // 4
    tail = admin.ok("listApis", page=last_page, pagesize=4)
    assert [a["name"] for a in tail["api"]] == names[(last_page - 1) * 4:]
    # page <= 0 is the first page
    assert admin.ok("listApis", page=0, pagesize=4)["api"] == first["api"]


def test_page_beyond_the_end_is_count_only(admin):
    total = admin.ok("listApis")["count"]
    res = admin.call("listApis", page=1000, pagesize=5)
    assert res.status == 200
    assert res.text == '{"listapisresponse":{"count":' + str(total) + '}}'


def test_empty_list_is_an_empty_object(admin):
    res = admin.call("listAsyncJobs")
    assert (res.status, res.text) == (200, '{"listasyncjobsresponse":{}}')


def test_unlimited_pagesize(admin):
    total = admin.ok("listApis")["count"]
    assert len(admin.ok("listApis", pagesize=-1)["api"]) == total


def test_paging_errors(admin, subtests):
    for params, cs_code, text in (
        ({"pagesize": 5}, 9999, '"page" parameter is required when "pagesize" is specified'),
        ({"page": 2}, 9999, '"pagesize" parameter is required when "page" is specified'),
        ({"page": 1, "pagesize": 501}, 4350,
         "Page size can't exceed max allowed page size value: 500"),
        ({"page": 1, "pagesize": -1}, 4350,
         "Can't specify page parameter when pagesize is -1 (Unlimited)"),
        ({"page": "x", "pagesize": 5}, 9999,
         "Unable to execute API command listapis due to invalid value x for parameter page"),
    ):
        with subtests.test(params=params):
            res = admin.fails("listApis", 431, text, **params)
            assert res.body["cserrorcode"] == cs_code
            assert res.envelope == "listapisresponse"


# --- values --------------------------------------------------------------------------------

def test_null_fields_are_omitted_and_types_are_json_types(admin):
    apis = {a["name"]: a for a in admin.ok("listApis")["api"]}
    login = apis["listApis"]
    assert "related" not in login or isinstance(login["related"], str)
    for api in apis.values():
        for param in api["params"]:
            assert None not in param.values()
            assert isinstance(param["required"], bool)
            assert isinstance(param["length"], int)
    caps = admin.ok("listCapabilities")["capability"]
    assert caps["securitygroupsenabled"] is False
    assert caps["supportELB"] == "false"  # the one capability CloudStack sends as a string
    assert isinstance(caps["customdiskofferingmaxsize"], int)


def test_user_without_timezone_has_no_timezone_key(admin):
    user = admin.ok("listUsers")["user"][0]
    assert "timezone" not in user
    assert user["accounttype"] == 1 and isinstance(user["isdefault"], bool)


def test_dates_are_cloudstack_dates(admin, state):
    user = admin.ok("listUsers")["user"][0]
    account = admin.ok("listAccounts")["account"][0]
    domain = admin.ok("listDomains")["domain"][0]
    for value in (user["created"], account["created"], domain["created"]):
        assert DATE.match(value), value
    with transaction(state.sessions) as db:
        created = db.get(Domain, 1).created
    assert domain["created"] == created.strftime("%Y-%m-%dT%H:%M:%S+0000")


def test_exactly_one_top_level_key_and_envelope_names(admin, http):
    for command in ("listApis", "listCapabilities", "listZones"):
        res = admin.call(command)
        assert list(json.loads(res.text)) == [command.lower() + "response"]
    unknown = http.get("/client/api?command=nope&response=json")
    assert list(unknown.get_json()) == ["errorresponse"]


def test_parameter_map_rules(http, admin):
    """The last duplicate in the query wins, the query beats the form body, items without
    '=' are ignored, `+` is a space."""
    pairs = signed(admin.api_key, admin.secret, "listApis", [("name", "listApis")])
    resp = http.get("/client/api?name=login&" + query(pairs) + "&flag&&")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert [a["name"] for a in resp.get_json()["listapisresponse"]["api"]] == ["listApis"]
    resp = http.post("/client/api?" + query(pairs), data="name=logout&name=login",
                     content_type="application/x-www-form-urlencoded")
    assert [a["name"] for a in resp.get_json()["listapisresponse"]["api"]] == ["listApis"]
    # A GET's body is no parameter map, even when it looks like a form.
    resp = http.get("/client/api", data=query(pairs),
                    content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 401
    spaced = signed(admin.api_key, admin.secret, "listApis", [("keyword", "a b")])
    plus = query(spaced).replace("a%20b", "a+b")
    assert "a+b" in plus and http.get("/client/api?" + plus).status_code == 200


def test_database_away_is_a_530_envelope_and_one_log_line(admin, state, tmp_path, caplog):
    """Connections that cannot be made (the database restarting, a network cut): every call
    gets CloudStack's 530 envelope, and the log gets one line per request, no traceback."""
    from csapi import db as dblib

    gone = dblib.make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'csapi.db'}")
    working = state.sessions
    state.sessions = dblib.make_sessionmaker(gone)
    try:
        with caplog.at_level("WARNING", logger="csapi.api.servlet"):
            result = admin.call("listZones")
    finally:
        state.sessions = working
        gone.dispose()
    assert (result.status, result.envelope) == (530, "listzonesresponse")
    assert result.body["errorcode"] == 530
    records = [r for r in caplog.records if r.name == "csapi.api.servlet"]
    assert len(records) == 1 and records[0].exc_info is None
    assert "database unavailable: unable to open database file" in records[0].getMessage()
    assert admin.call("listZones").status == 200  # and it works again once it is back

"""Bad input of every kind gets CloudStack's envelope with the right code and text: never a
traceback, never an HTML page, never a bare 500, never a dropped connection. The first part
runs in process; the second against a real `csapi serve` (gevent's HTTP layer included)."""

from __future__ import annotations

import http.client as httplib
import json
import socket
import uuid
from typing import Any

import pytest
import requests

from tests.server import RunningServer, give_keys
from tests.wire import CREDENTIALS, JSON_TYPE, XML_TYPE, query, signed

MAP_HINT = ("; if specifying an object array, please use parameter[index].field=XXX, e.g. "
            "userGroupList[0].group=httpGroup")
MB = 1024 * 1024
UNSIGNED_XML = ('<?xml version="1.0" encoding="UTF-8"?><errorresponse cloud-stack-version='
                '"4.20.0.0"><errorcode>401</errorcode><errortext>' + CREDENTIALS +
                "</errortext></errorresponse>")


@pytest.fixture
def http(app):  # type: ignore[no-untyped-def]
    return app.test_client(use_cookies=False)


def keyed(admin: Any, command: str, params: list[tuple[str, str]] | None = None,
          **kw: Any) -> list[tuple[str, str]]:
    return signed(admin.api_key, admin.secret, command, params or [], **kw)


def envelope(resp: Any) -> tuple[int, str, dict[str, Any]]:
    assert resp.headers["Content-Type"] == JSON_TYPE, resp.get_data(as_text=True)[:300]
    data = resp.get_json()
    assert len(data) == 1
    name, body = next(iter(data.items()))
    assert resp.status_code == body["errorcode"]
    return resp.status_code, name, body


# --- in process ----------------------------------------------------------------------------

def test_no_parameters_at_all(http):
    resp = http.get("/client/api")
    assert resp.status_code == 401
    assert resp.headers["Content-Type"] == XML_TYPE
    assert resp.get_data(as_text=True) == UNSIGNED_XML


def test_signed_request_without_command(http, admin):
    pairs = [p for p in keyed(admin, "listApis") if p[0] != "command"]
    status, name, body = envelope(http.get("/client/api?" + query(pairs)))
    assert (status, name, body) == (401, "errorresponse", {
        "uuidList": [], "errorcode": 401, "errortext": CREDENTIALS})


def test_unknown_command_with_keys_is_401(http, admin):
    status, name, body = envelope(http.get("/client/api?" + query(keyed(admin, "doMagic"))))
    assert (status, name, body["errortext"]) == (401, "errorresponse", CREDENTIALS)
    assert "cserrorcode" not in body


def test_missing_parameter(admin):
    res = admin.fails("queryAsyncJobResult", 431,
                      "Unable to execute API command queryasyncjobresult due to missing "
                      "parameter jobid")
    assert res.body["cserrorcode"] == 9999
    res = admin.fails("queryAsyncJobResult", 431, jobid="")  # blank counts as missing
    assert res.error.endswith("due to missing parameter jobid")


def test_non_numeric_integer(admin, subtests):
    for value in ("abc", "5.0", " 5", "1_0", "\u0663", "2147483648", "0x10", "--1", "+-1"):
        with subtests.test(value):
            res = admin.fails("listApis", 431, "Unable to execute API command listapis due to "
                              f"invalid value {value} for parameter page", page=value,
                              pagesize=10)
            assert res.body["cserrorcode"] == 9999
    assert admin.ok("listApis", page="+1", pagesize="10", name="listApis")["count"] == 1


def test_bad_or_unknown_uuid(admin, subtests):
    for value in ("not-a-uuid", "1", str(uuid.uuid4()), str(uuid.uuid4()).upper()):
        with subtests.test(value):
            admin.fails("queryAsyncJobResult", 431,
                        "Unable to execute API command queryasyncjobresult due to invalid "
                        f"value. Invalid parameter jobid value={value} due to incorrect long "
                        "value format, or entity does not exist or due to incorrect parameter "
                        "annotation for the field in api cmd class.", jobid=value)


def test_malformed_map_keys_are_430_naming_the_key(admin, subtests):
    for key in ("tags[0][1].key", "tags]0[.key", "tags[0]key", "tags[x].key", "ta.gs[0].key",
                "tags[0].key]", "tags[99999999999].key", "Tags[1 ].Key"):
        with subtests.test(key):
            res = admin.fails("listApis", 430, f"Unable to decode parameter {key}{MAP_HINT}",
                              **{key: "v"})
            assert res.body["cserrorcode"] == 9999


def test_well_formed_or_plain_odd_keys_are_accepted(admin, subtests):
    for key in ("]odd", "odd]", "[0].x", "tags[0].key", "Tags[-1].Key", "details[0].a.b"):
        with subtests.test(key):
            assert admin.ok("listApis", name="listApis", **{key: "v"})["count"] == 1


def test_control_characters_are_431_naming_the_parameter_as_sent(admin, subtests):
    for name, value in (("keyword", "a\x00b"), ("Keyword", "\x1f"), ("keyword", "x\x7f"),
                        ("keyword", "\x0b"), ("tags[0].value", "\x08"),
                        ("unknownparam", "\x01")):
        with subtests.test(name=name, value=value):
            res = admin.fails("listApis", 431, "Received value containing illegal ASCII "
                              f"non-printable characters for parameter {name}", **{name: value})
            assert res.body["cserrorcode"] == 9999


def test_tabs_newlines_and_activationrule_are_allowed(admin):
    assert admin.ok("listApis", keyword="a\tb\r\nc")
    assert admin.ok("listApis", activationrule="\x01")


def test_too_long_string(admin):
    admin.fails("listApis", 431, "Unable to execute API command listapis due to invalid value. "
                "Value greater than max allowed length 255 for param: keyword",
                keyword="k" * 300)
    assert admin.call("listApis", keyword="k" * 255).status == 200
    assert admin.call("listApis", keyword="é" * 255).status == 200  # characters, not bytes


def test_binary_garbage_in_values_and_bodies(http, admin):
    garbage = bytes(range(256)).replace(b"&", b"").replace(b"=", b"")
    # Undecodable bytes in a query: an envelope, not a crash.
    raw_query = b"command=listApis&response=json&keyword=" + garbage.replace(b"#", b"")
    resp = http.get("/client/api",
                    environ_overrides={"QUERY_STRING": raw_query.decode("latin-1")})
    assert envelope(resp)[0] == 401
    # Signed, with invalid UTF-8 among the values: the control characters speak first.
    pairs = keyed(admin, "listApis", [("keyword", "\x00\xff")])
    assert envelope(http.get("/client/api?" + query(pairs)))[0] == 431
    # A form body of random bytes.
    resp = http.post("/client/api?response=json", data=bytes(range(256)) * 8,
                     content_type="application/x-www-form-urlencoded")
    assert envelope(resp)[:2] == (401, "errorresponse")
    # Garbage as the JSESSIONID cookie.
    resp = http.get("/client/api?command=listApis&response=json",
                    headers={"Cookie": "JSESSIONID=\x01\xff; sessionkey=\x00"})
    assert envelope(resp)[0] == 401


def test_bodies_that_are_not_forms_are_not_parameters(http, admin, subtests):
    pairs = dict(keyed(admin, "listApis"))
    multipart = ("--b\r\nContent-Disposition: form-data; name=\"command\"\r\n\r\nlistApis"
                 "\r\n--b--\r\n")
    for content_type, body in (("application/json", json.dumps(pairs)),
                               ("multipart/form-data; boundary=b", multipart),
                               ("text/plain", query(list(pairs.items()))),
                               ("application/xml", "<command>listApis</command>")):
        with subtests.test(content_type):
            resp = http.post("/client/api?response=json", data=body,
                             content_type=content_type)
            assert envelope(resp) == (401, "errorresponse", {
                "uuidList": [], "errorcode": 401, "errortext": CREDENTIALS})


def test_unsupported_methods_get_an_envelope(http, admin, subtests):
    for method in ("PUT", "DELETE", "PATCH"):
        with subtests.test(method):
            resp = http.open("/client/api?" + query(keyed(admin, "listApis")), method=method)
            assert envelope(resp) == (405, "errorresponse", {
                "uuidList": [], "errorcode": 405,
                "errortext": f"HTTP method {method} is not supported by this URL"})
            xml = http.open("/client/api", method=method)
            assert xml.status_code == 405 and xml.headers["Content-Type"] == XML_TYPE


def test_other_paths_get_an_envelope(http):
    for path in ("/", "/client", "/client/apis", "/client/api/x"):
        resp = http.get(path + "?response=json")
        assert envelope(resp)[:2] == (404, "errorresponse"), path


def test_header_injection_through_error_text_is_neutralised(http, admin):
    resp = http.get("/client/api?" + query(keyed(admin, "listApis", [("page", "a\r\nX: y"),
                                                                     ("pagesize", "5")])))
    status, _, body = envelope(resp)
    assert status == 431 and body["errortext"].endswith("value a\r\nX: y for parameter page")
    assert "X" not in resp.headers or resp.headers.get("X") != "y"
    assert resp.headers["X-Description"].endswith("value a??X: y for parameter page")


# --- against a real server -----------------------------------------------------------------

@pytest.fixture(scope="module")
def server(api_server: RunningServer) -> RunningServer:
    return api_server


@pytest.fixture
def keys(server: RunningServer) -> tuple[str, str]:
    return give_keys(server.database_url)


def raw_exchange(server: RunningServer, data: bytes, chunk: int = MB) -> bytes:
    """Send bytes as they are, then read one whole answer (head and Content-Length body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        view = memoryview(data)
        for start in range(0, len(data), chunk):
            sock.sendall(view[start:start + chunk])
        received = b""
        while True:
            head, sep, body = received.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    return received
            part = sock.recv(65536)
            if not part:
                return received
            received += part


def split_answer(raw: bytes) -> tuple[int, dict[str, str], str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body.decode()


def assert_json_envelope(status: int, headers: dict[str, str], body: str, code: int,
                         name: str = "errorresponse") -> dict[str, Any]:
    assert status == code, body[:300]
    assert headers["content-type"] == JSON_TYPE
    data = json.loads(body)
    assert list(data) == [name]
    assert data[name]["errorcode"] == code
    return data[name]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_ten_megabyte_parameter(server, keys, method):
    value = "x" * (10 * MB)
    pairs = signed(*keys, "listApis", [("keyword", value)])
    conn = httplib.HTTPConnection("127.0.0.1", server.port, timeout=60)
    if method == "GET":
        conn.request("GET", "/client/api?" + query(pairs))
    else:
        conn.request("POST", "/client/api", body=query(pairs).encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 431
    assert resp.getheader("Content-Type") == JSON_TYPE
    assert json.loads(body) == {"listapisresponse": {
        "uuidList": [], "errorcode": 431, "cserrorcode": 9999,
        "errortext": "Unable to execute API command listapis due to invalid value. Value "
                     "greater than max allowed length 255 for param: keyword"}}
    # Unsigned, it is the 401 it always is.
    resp = requests.request(method, server.url, timeout=60, **{
        "params" if method == "GET" else "data": {"command": "listApis", "response": "json",
                                                  "keyword": value}})
    assert (resp.status_code, resp.json()["listapisresponse"]["errortext"]) == (401,
                                                                                 CREDENTIALS)


def test_request_line_beyond_the_limit_is_a_414_envelope(server):
    size = 33 * MB
    target = b"/client/api?command=listApis&response=json&keyword=" + b"x" * size
    raw = raw_exchange(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = split_answer(raw)
    err = assert_json_envelope(status, headers, body, 414, "listapisresponse")
    assert err["errortext"] == ("Request-URI Too Long: the request line is longer than "
                                f"{32 * MB} bytes")
    # Without a readable `response=json` before the cut, the default XML answers.
    raw = raw_exchange(server, b"GET /client/api?keyword=" + b"y" * size + b" HTTP/1.1\r\n\r\n")
    status, headers, body = split_answer(raw)
    assert status == 414 and headers["content-type"] == XML_TYPE
    assert "<errorcode>414</errorcode>" in body


def test_body_beyond_the_limit_is_a_413_envelope(server):
    body = b"command=listApis&response=json&keyword=" + b"z" * (33 * MB)
    raw = raw_exchange(server, b"POST /client/api?response=json HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/x-www-form-urlencoded\r\n"
                       b"Connection: close\r\n"
                       b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    status, headers, text = split_answer(raw)
    err = assert_json_envelope(status, headers, text, 413)
    assert err["errortext"] == ("Request Entity Too Large: the request body is longer than "
                                f"{32 * MB} bytes")


def test_long_but_acceptable_request_lines_keep_the_connection_usable(server, keys):
    with requests.Session() as session:
        pairs = signed(*keys, "listApis", [("keyword", "q" * 20000), ("name", "listApis")])
        first = session.get(server.url + "?" + query(pairs), timeout=30)
        assert first.status_code == 431  # 20000 > 255: parsed, not cut off
        pairs = signed(*keys, "listApis", [("name", "listApis")])
        second = session.get(server.url + "?" + query(pairs), timeout=30)
        assert second.status_code == 200 and second.json()["listapisresponse"]["count"] == 1


@pytest.mark.parametrize("data", [
    b"\x00\xff\xfe garbage\r\n\r\n",
    b"GET /client/api?response=json HTTP/9.9\r\n\r\n",
    b"GET /client/api?response=json HTTP/1.1\r\nCookie: " + b"c" * 70000 + b"\r\n\r\n",
    b"GET /client/api?response=json HTTP/1.1 extra\r\n\r\n",
    b"GET /client/api?response=json&" + b"x" * 9000 + b" HTTP/1.1 extra\r\n\r\n",
])
def test_malformed_http_gets_a_400_envelope(server, data):
    status, headers, body = split_answer(raw_exchange(server, data))
    assert status == 400, body
    assert "<html" not in body.lower()
    if "json" in headers["content-type"]:
        assert json.loads(body)["errorresponse"]["errortext"] == (
            "Bad Request: malformed HTTP request")
    else:
        assert "<errorcode>400</errorcode>" in body


def test_broken_chunked_body_gets_an_envelope(server):
    raw = raw_exchange(server, b"POST /client/api?response=json HTTP/1.1\r\nHost: x\r\n"
                       b"Transfer-Encoding: chunked\r\nConnection: close\r\n"
                       b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
                       b"zz\r\nabc\r\n0\r\n\r\n")
    status, headers, body = split_answer(raw)
    assert status == 400 and headers["content-type"] == JSON_TYPE
    assert json.loads(body)["errorresponse"]["errorcode"] == 400


@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "PATCH"])
def test_methods_over_real_http(server, method):
    conn = httplib.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, "/client/api?command=listApis&response=json", body=b"x=1")
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    if method == "OPTIONS":  # answered by the framework: no body at all, never a page
        assert resp.status == 200 and body == ""
        return
    assert resp.status == 405 and resp.getheader("Content-Type") == JSON_TYPE
    assert json.loads(body) == {"errorresponse": {
        "uuidList": [], "errorcode": 405,
        "errortext": f"HTTP method {method} is not supported by this URL"}}


def test_json_and_multipart_bodies_over_real_http(server, keys):
    pairs = dict(signed(*keys, "listApis"))
    resp = requests.post(server.url + "?response=json", json=pairs, timeout=10)
    assert (resp.status_code, resp.json()["errorresponse"]["errortext"]) == (401, CREDENTIALS)
    resp = requests.post(server.url + "?response=json",
                         files={k: (None, v) for k, v in pairs.items()}, timeout=10)
    assert (resp.status_code, resp.json()["errorresponse"]["errortext"]) == (401, CREDENTIALS)

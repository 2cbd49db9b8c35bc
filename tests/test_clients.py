"""Real clients over real HTTP against `csapi serve`: exoscale `cs`, Apache Libcloud, a
Marvin-style flow through the integration port, and CloudMonkey's expectations (the `cmk`
binary itself is Go and not installable here: its signing, session flow and `listApis`
contract are reproduced from cmk's source). Last, the "must show" flow on a fresh server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import quote, quote_plus

import cs
import pytest
import requests
from libcloud.common.types import InvalidCredsError, ProviderError
from libcloud.compute.drivers.cloudstack import CloudStackNodeDriver

from tests.server import RunningServer, ServerFactory, give_keys
from tests.wire import CREDENTIALS, JSON_TYPE, expires_in, go_encode, signed


@pytest.fixture(scope="module")
def server(api_server: RunningServer) -> RunningServer:
    return api_server


@pytest.fixture
def keys(server: RunningServer) -> tuple[str, str]:
    """Fresh admin keys for each test (the Marvin flow regenerates them)."""
    return give_keys(server.database_url)


def record_requests(api: cs.CloudStack) -> list[requests.PreparedRequest]:
    """Every request the cs client sends (it prepares them itself, so no session hooks)."""
    sent: list[requests.PreparedRequest] = []
    send = api.session.send

    def recording(prepared: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        sent.append(prepared)
        return send(prepared, **kwargs)

    api.session.send = recording  # type: ignore[method-assign]
    return sent


def libcloud_driver(server: RunningServer, key: str, secret: str,
                    by_url: bool = False) -> CloudStackNodeDriver:
    if by_url:  # (libcloud takes the scheme from `secure`, even with a URL)
        return CloudStackNodeDriver(key, secret, url=server.url, secure=False)
    return CloudStackNodeDriver(key, secret, secure=False, host="127.0.0.1",
                                port=server.port, path="/client/api")


# --- exoscale cs -----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["get", "post"])
def test_cs_signs_with_version_3_by_get_and_post(server, keys, method):
    api = cs.CloudStack(endpoint=server.url, key=keys[0], secret=keys[1], method=method)
    sent = record_requests(api)
    caps = api.listCapabilities()
    assert caps["capability"]["cloudstackversion"].startswith("4.")
    accounts = api.listAccounts(name="admin")
    assert accounts["count"] == 1 and accounts["account"][0]["name"] == "admin"
    request = sent[-1]
    assert request.method == method.upper()
    text = request.url if method == "get" else request.body
    assert "signatureVersion=3" in text and "expires=" in text


def test_cs_fetch_list_pages_across_pages(server, keys):
    api = cs.CloudStack(endpoint=server.url, key=keys[0], secret=keys[1])
    total = api.listApis()["count"]
    sent = record_requests(api)
    everything = api.listApis(fetch_list=True, pagesize=7)
    pages = [int(re.search(r"[?&]page=(\d+)", r.url)[1]) for r in sent]
    assert len(everything) == total > 14
    assert pages == list(range(1, (total + 6) // 7 + 1))
    assert [a["name"] for a in everything] == sorted(a["name"] for a in everything)
    assert len({a["name"] for a in everything}) == total


def test_cs_reports_cloudstack_errors(server, keys):
    api = cs.CloudStack(endpoint=server.url, key=keys[0], secret=keys[1])
    with pytest.raises(cs.CloudStackApiException) as err:
        api.queryAsyncJobResult()
    assert err.value.error == {
        "uuidList": [], "errorcode": 431, "cserrorcode": 9999,
        "errortext": "Unable to execute API command queryasyncjobresult due to missing "
                     "parameter jobid"}
    bad = cs.CloudStack(endpoint=server.url, key=keys[0], secret="wrong")
    with pytest.raises(cs.CloudStackApiException) as err:
        bad.listAccounts()
    assert err.value.error == {"uuidList": [], "errorcode": 401, "errortext": CREDENTIALS}
    assert err.value.response.status_code == 401


def test_cs_values_with_unicode_spaces_and_tilde(server, keys):
    api = cs.CloudStack(endpoint=server.url, key=keys[0], secret=keys[1])
    for keyword in ("é ü ~ * / , [x]", "a+b=c&d"):
        assert api.listAccounts(keyword=keyword) == {}


# --- Apache Libcloud ------------------------------------------------------------------

@pytest.mark.parametrize("by_url", [False, True])
def test_libcloud_connection(server, keys, by_url):
    driver = libcloud_driver(server, *keys, by_url=by_url)
    accounts = driver._sync_request("listAccounts")
    assert accounts["count"] == 1 and accounts["account"][0]["name"] == "admin"
    raw = driver.connection.request("/client/api",
                                    params={"command": "listApis", "name": "listApis"})
    assert raw.object["listapisresponse"]["api"][0]["name"] == "listApis"
    apis = driver._sync_request("listApis", params={"name": "listCapabilities"})
    assert [a["name"] for a in apis["api"]] == ["listCapabilities"]


def test_libcloud_driver_methods(server, keys):
    driver = libcloud_driver(server, *keys)
    locations = driver.list_locations()
    assert [loc.name for loc in locations] == ["Sandbox-simulator"]
    pair = driver.create_key_pair("libcloud-test")
    assert pair.private_key.startswith("-----BEGIN")
    assert [p.name for p in driver.list_key_pairs()] == ["libcloud-test"]
    # libcloud compares `success` with the string "true" (pre-4.11.1 CloudStack); current
    # CloudStack, like csapi, answers a JSON boolean, so libcloud reports False here too.
    assert driver.delete_key_pair(pair) is False
    assert driver.list_key_pairs() == []


def test_libcloud_errors(server, keys):
    with pytest.raises(InvalidCredsError):
        libcloud_driver(server, keys[0], "wrong")._sync_request("listAccounts")
    with pytest.raises(ProviderError) as err:
        libcloud_driver(server, *keys)._sync_request("queryAsyncJobResult")
    assert err.value.http_code == 431
    assert "due to missing parameter jobid" in err.value.value


# --- Marvin ----------------------------------------------------------------------------

def marvin_sign(secret: str, payload: dict[str, str]) -> str:
    """cloudstackConnection.py: names lower-cased and sorted, quote_plus(safe='*'), '+' as
    %20, lower-cased, HMAC-SHA1, Base64."""
    items = sorted((k.lower(), quote_plus(str(v), safe="*").lower().replace("+", "%20"))
                   for k, v in payload.items())
    text = "&".join(f"{k}={v}" for k, v in items)
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1)
                            .digest()).decode().strip()


def test_marvin_flow_through_the_integration_port(server):
    # 1. Unsigned, as SYSTEM, on the integration port: find the admin user.
    users = requests.get(server.integration_url, timeout=10, params={
        "command": "listUsers", "account": "admin", "response": "json"}).json()
    admin = users["listusersresponse"]["user"][0]
    assert admin["username"] == "admin" and admin["account"] == "admin"
    # 2. Register keys for it (still unsigned, still the integration port).
    reply = requests.get(server.integration_url, timeout=10, params={
        "command": "registerUserKeys", "id": admin["id"], "response": "json"})
    assert reply.status_code == 200, reply.text
    userkeys = reply.json()["registeruserkeysresponse"]["userkeys"]
    api_key, secret = userkeys["apikey"], userkeys["secretkey"]
    # 3. Switch to the signed port; Marvin's "POST" also travels in the query string.
    for method in ("GET", "POST"):
        payload = {"command": "listUsers", "account": "admin", "response": "json",
                   "apiKey": api_key}
        payload["signature"] = marvin_sign(secret, payload)
        resp = requests.request(method, server.url, params=payload, timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.json()["listusersresponse"]["user"][0]["apikey"] == api_key
    # The integration port is not the signed port: unsigned calls there are refused.
    unsigned = requests.get(server.url, timeout=10, params={"command": "listUsers",
                                                            "response": "json"})
    assert unsigned.status_code == 401


def test_integration_port_errors_are_envelopes(server):
    resp = requests.get(server.integration_url, timeout=10, params={"response": "json"})
    assert resp.status_code == 432
    assert resp.json() == {"errorresponse": {"uuidList": [], "errorcode": 432,
                                             "cserrorcode": 9999,
                                             "errortext": "Invalid request, no command sent"}}
    resp = requests.get(server.integration_url, timeout=10,
                        params={"command": "nope", "response": "json"})
    assert (resp.status_code, resp.json()["errorresponse"]["errortext"]) == (
        432, "Unknown API command: nope")


# --- CloudMonkey (cmk) ----------------------------------------------------------------

def cmk_get(server: RunningServer, key: str, secret: str, command: str,
            **args: str) -> requests.Response:
    """cmk in API-key mode: GET, `apiKey`, no signatureVersion/expires, Go QueryEscape
    values, the signature URL-escaped."""
    params = {"command": command, **args, "response": "json", "apiKey": key}
    pairs = signed(key, secret, command, list(args.items()), encode=go_encode)
    signature = dict(pairs)["signature"]
    url = server.url + "?" + "&".join(f"{k}={quote(v, safe='*')}" for k, v in params.items())
    return requests.get(url + "&signature=" + quote(signature, safe=""), timeout=10)


def first_response(data: dict[str, Any]) -> dict[str, Any]:
    """cmk: the first top-level key ending in `response`; its value must be an object."""
    key = next(k for k in data if k.endswith("response"))
    assert isinstance(data[key], dict)
    return data[key]


def test_cmk_sync_list_apis_contract(server, keys):
    resp = cmk_get(server, *keys, "listApis", listall="true")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == JSON_TYPE
    body = first_response(resp.json())
    assert isinstance(body["count"], int) and body["count"] == len(body["api"])
    names = set()
    for api in body["api"]:
        assert isinstance(api["name"], str) and re.fullmatch(r"[a-z]+[A-Z]\w*", api["name"])
        assert isinstance(api["isasync"], bool)
        assert isinstance(api["description"], str)
        assert isinstance(api["params"], list) and isinstance(api["response"], list)
        assert isinstance(api.get("related", ""), str)
        assert isinstance(api.get("since", ""), str)
        for param in api["params"]:
            assert isinstance(param["name"], str) and param["name"], api["name"]
            assert isinstance(param["type"], str) and param["type"] in {
                "string", "uuid", "boolean", "integer", "long", "short", "float", "double",
                "date", "list", "map", "object"}, (api["name"], param)
            assert isinstance(param["description"], str)
            assert isinstance(param["required"], bool)
            assert isinstance(param["length"], int)
            related = param.get("related", "")
            assert isinstance(related, str)
            assert all(r.strip() for r in related.split(",")) if related else True
        for field in api["response"]:
            _check_response_field(field, api["name"])
        names.add(api["name"])
    assert {"login", "logout"} - names == {"login", "logout"}  # authenticators are not APIs
    assert {"listApis", "listWebhooks", "createWebhook", "registerUserKeys",
            "queryAsyncJobResult"} <= names


def _check_response_field(field: dict[str, Any], where: str) -> None:
    assert isinstance(field["name"], str) and field["name"], where
    assert isinstance(field["description"], str), (where, field)
    assert isinstance(field["type"], str), (where, field)
    for sub in field.get("response", []):
        _check_response_field(sub, where)


def test_cmk_signing_is_accepted(server, keys):
    resp = cmk_get(server, *keys, "listAccounts", listall="true", keyword="ad min*/")
    assert resp.status_code == 200, resp.text
    assert first_response(resp.json()) == {}
    resp = cmk_get(server, *keys, "listAccounts", name="admin", filter="name,id")
    assert first_response(resp.json())["account"][0]["name"] == "admin"


def test_cmk_session_mode(server):
    """cmk's default profile: POST login, the session key read from the Set-Cookie, then the
    cookie jar plus a `sessionkey` parameter on every call."""
    with requests.Session() as jar:
        login = jar.post(server.url, timeout=10, data={
            "command": "login", "username": "admin", "password": "password", "domain": "/",
            "response": "json"})
        assert login.status_code == 200
        key = jar.cookies.get("sessionkey", path="/client")
        assert key == login.json()["loginresponse"]["sessionkey"]
        body = first_response(jar.get(server.url, timeout=10, params={
            "command": "listApis", "listall": "true", "response": "json",
            "sessionkey": key}).json())
        assert body["count"] == len(body["api"])
        # A call without the parameter is refused and the session ends: cmk logs in again.
        refused = jar.get(server.url, timeout=10, params={"command": "listApis",
                                                          "response": "json"})
        assert refused.status_code == 401
        again = jar.get(server.url, timeout=10, params={
            "command": "listApis", "response": "json", "sessionkey": key})
        assert again.status_code == 401


# --- "must show": a fresh server, login, keys, clients ---------------------------------

def test_fresh_server_login_register_keys_and_use_them(serve: ServerFactory, fresh_database,
                                                       tmp_path):
    from tests.server import backend

    url = fresh_database() if backend() == "mysql" else None  # SQLite: csapi.db in an empty dir
    server = serve(url, env={"CSAPI_ENCRYPTION_KEY": None})
    if url is None:
        key_file = server.workdir / "csapi.key"
        assert (server.workdir / "csapi.db").exists() and key_file.exists()
        assert key_file.stat().st_mode & 0o777 == 0o600
    # 1. login admin/password.
    with requests.Session() as browser:
        login = browser.post(server.url, timeout=10, data={
            "command": "login", "username": "admin", "password": "password",
            "response": "json"})
        assert login.status_code == 200, login.text
        session = login.json()["loginresponse"]
        # 2. registerUserKeys with the session.
        reply = browser.post(server.url, timeout=10, data={
            "command": "registerUserKeys", "id": session["userid"], "response": "json",
            "sessionkey": session["sessionkey"]})
        assert reply.status_code == 200, reply.text
        userkeys = reply.json()["registeruserkeysresponse"]["userkeys"]
    api_key, secret = userkeys["apikey"], userkeys["secretkey"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", api_key) and re.fullmatch(r"[A-Za-z0-9_-]{86}",
                                                                        secret)
    # 3. The keys work with cs (GET and POST, signatureVersion 3) ...
    for method in ("get", "post"):
        api = cs.CloudStack(endpoint=server.url, key=api_key, secret=secret, method=method)
        users = api.listUsers()
        assert users["count"] == 1 and users["user"][0]["apikey"] == api_key
    # ... and with libcloud.
    driver = libcloud_driver(server, api_key, secret)
    assert driver._sync_request("listAccounts")["account"][0]["name"] == "admin"
    # 4. Wrong keys, tampered signatures and expired requests: 401 JSON envelopes.
    expected = {"listusersresponse": {"uuidList": [], "errorcode": 401,
                                      "errortext": CREDENTIALS}}
    good = signed(api_key, secret, "listUsers", [("signatureVersion", "3"),
                                                 ("expires", expires_in(60))])
    tampered = [(k, v[:-2] + "AA" if k == "signature" else v) for k, v in good]
    wrong_key = signed(("y" if api_key[0] == "x" else "x") + api_key[1:], secret, "listUsers")
    wrong_secret = signed(api_key, secret[::-1], "listUsers")
    expired = signed(api_key, secret, "listUsers", [("signatureVersion", "3"),
                                                    ("expires", expires_in(-1))])
    assert requests.get(server.url, params=good, timeout=10).status_code == 200
    for pairs in (tampered, wrong_key, wrong_secret, expired):
        resp = requests.get(server.url, params=pairs, timeout=10)
        assert resp.status_code == 401
        assert resp.headers["Content-Type"] == JSON_TYPE
        assert resp.json() == expected
    with pytest.raises(cs.CloudStackApiException) as err:
        cs.CloudStack(endpoint=server.url, key=api_key, secret="nope").listUsers()
    assert err.value.error == expected["listusersresponse"]
    with pytest.raises(InvalidCredsError):
        libcloud_driver(server, api_key, "nope")._sync_request("listUsers")
    server.stop()  # SIGTERM: exits 0
    assert "Traceback" not in server.log()

"""createWebhook / listWebhooks / updateWebhook / deleteWebhook: the happy paths, CloudStack's
wire format, owners and scopes, secrets at rest, events, and every bad input from the issue with
its exact code and text and nothing written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from csapi.db import transaction
from csapi.db.models import Event, Webhook, WebhookDispatchEvent
from tests.factories import create_domain, create_project, create_tenant
from tests.webhook_fixtures import count, dns, snapshot  # noqa: F401 - dns is a fixture

pytestmark = pytest.mark.usefixtures("dns")

WEBHOOK_FIELDS = ["id", "name", "description", "state", "domainid", "domain", "domainpath",
                  "account", "projectid", "project", "payloadurl", "secretkey",
                  "sslverification", "scope", "created"]
URL = "http://smee.io/C9LPa7Ei3iB6Qj2"


def in_order(obj: dict, fields: list[str]) -> list[str]:
    """The declared fields `obj` carries, in declaration order."""
    return [f for f in fields if f in obj]


@pytest.fixture
def hook(admin) -> dict:
    return admin.ok("createWebhook", name="first", payloadurl=URL)["webhook"]


# --- create ---------------------------------------------------------------------------------

def test_create_answers_cloudstacks_webhook_object(admin, state) -> None:
    res = admin.call("createWebhook", name="Test-1", payloadurl=URL, description="my hook",
                     secretkey="s3cr3t")
    assert res.status == 200 and res.envelope == "createwebhookresponse"
    w = res.body["webhook"]
    assert list(w) == in_order(w, WEBHOOK_FIELDS)
    assert list(w) == ["id", "name", "description", "state", "domainid", "domain", "domainpath",
                       "account", "payloadurl", "secretkey", "sslverification", "scope",
                       "created"]
    assert (w["name"], w["description"], w["state"], w["scope"]) == (
        "Test-1", "my hook", "Enabled", "Local")
    assert (w["domain"], w["domainpath"], w["account"]) == ("ROOT", "ROOT", "admin")
    assert w["payloadurl"] == URL and w["secretkey"] == "s3cr3t"
    assert w["sslverification"] is False
    assert len(w["created"]) == 24 and w["created"].endswith("+0000")
    # The raw JSON has the same order (the client keeps it, but be explicit).
    assert res.text.index('"domainpath"') < res.text.index('"account"') < res.text.index(
        '"payloadurl"')
    assert count(state, Webhook) == 1


def test_url_is_normalised_and_loopback_allowed_by_default(admin) -> None:
    w = admin.ok("createWebhook", name="n", payloadurl="smee.io/abc")["webhook"]
    assert w["payloadurl"] == "http://smee.io/abc"
    # PRODUCT.md: loopback and LAN receivers work with the default blocklist.
    local = admin.ok("createWebhook", name="l", payloadurl="http://127.0.0.1:9/hook")["webhook"]
    assert local["payloadurl"] == "http://127.0.0.1:9/hook"
    lan = admin.ok("createWebhook", name="lan", payloadurl="http://192.168.1.20:8080/")
    assert lan["webhook"]["payloadurl"] == "http://192.168.1.20:8080/"
    named = admin.ok("createWebhook", name="h", payloadurl="localhost:8000/x")["webhook"]
    assert named["payloadurl"] == "http://localhost:8000/x"


def test_secret_is_encrypted_at_rest_and_returned_in_clear(admin, state) -> None:
    secret = "very-secret-Ω-value"
    w = admin.ok("createWebhook", name="s", payloadurl=URL, secretkey=secret)["webhook"]
    with state.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT secret_key FROM webhook").scalar_one()
        # No table holds the secret anywhere in plain text.
        dump = json.dumps([list(r) for r in conn.exec_driver_sql("SELECT * FROM webhook")],
                          default=str)
    assert stored != secret and secret not in dump and "very-secret" not in dump
    assert stored.startswith("v1:") and len(stored) <= 255
    assert state.secrets.decrypt(stored) == secret
    assert w["secretkey"] == secret
    listed = admin.ok("listWebhooks", id=w["id"])["webhook"][0]
    assert listed["secretkey"] == secret
    # The longest secret allowed still fits the varchar(255) column once encrypted.
    longest = "k" * 160
    w2 = admin.ok("createWebhook", name="s2", payloadurl=URL + "2", secretkey=longest)["webhook"]
    assert w2["secretkey"] == longest
    with transaction(state.sessions) as db:
        row = db.scalar(select(Webhook).where(Webhook.uuid == w2["id"]))
        assert len(row.secret_key) <= 255 and longest not in row.secret_key


def test_empty_secret_is_kept_as_empty(admin, state) -> None:
    w = admin.ok("createWebhook", name="e", payloadurl=URL, secretkey="")["webhook"]
    assert w["secretkey"] == ""
    with transaction(state.sessions) as db:
        row = db.scalar(select(Webhook).where(Webhook.uuid == w["id"]))
        assert row.secret_key != "" and state.secrets.decrypt(row.secret_key) == ""


def test_create_records_event(admin, state) -> None:
    w = admin.ok("createWebhook", name="ev", payloadurl=URL)["webhook"]
    with transaction(state.sessions) as db:
        ev = db.scalar(select(Event).where(Event.type == "WEBHOOK.CREATE"))
        hook = db.scalar(select(Webhook).where(Webhook.uuid == w["id"]))
        assert ev is not None
        assert ev.description == "Successfully completed creating Webhook"
        assert (ev.resource_type, ev.resource_id, ev.state) == ("Webhook", hook.id, "Completed")
        payload = db.scalar(select(WebhookDispatchEvent.payload).where(
            WebhookDispatchEvent.event_id == ev.id))
    assert payload is not None
    data = json.loads(payload)
    assert (data["entity"], data["entityuuid"], data["Webhook"]) == ("Webhook", w["id"], w["id"])


def test_duplicate_url_per_owner(admin, app, state) -> None:
    admin.ok("createWebhook", name="a", payloadurl=URL)
    # The normalised form is what counts.
    admin.ok("createWebhook", name="c", payloadurl="smee.io/other")
    before = snapshot(state)
    admin.fails("createWebhook", 431, f"Payload URL: {URL} is already in use by another webhook",
                name="b", payloadurl=URL)
    admin.fails("createWebhook", 431, "Payload URL: http://smee.io/other is already in use by "
                "another webhook", name="d", payloadurl="http://smee.io/other")
    assert snapshot(state) == before
    # URL paths are case-sensitive (also on MySQL, whose collation is not).
    admin.ok("createWebhook", name="e", payloadurl=URL.upper().replace("HTTP://", "http://"))
    # Names may repeat, and another owner may use the same URL.
    bob = create_tenant(app, state, "bob")
    bob.client.ok("createWebhook", name="a", payloadurl=URL)
    assert count(state, Webhook) == 4


def test_ssl_verification_only_for_https(admin, state) -> None:
    before = snapshot(state)
    admin.fails("createWebhook", 431, f"SSL verification can be specified only for HTTPS URLs, "
                f"{URL}", name="x", payloadurl=URL, sslverification=True)
    assert snapshot(state) == before
    w = admin.ok("createWebhook", name="x", payloadurl="https://smee.io/s",
                 sslverification=True)["webhook"]
    assert w["sslverification"] is True


def test_state_disabled_and_case_sensitive(admin, state) -> None:
    w = admin.ok("createWebhook", name="d", payloadurl=URL, state="Disabled")["webhook"]
    assert w["state"] == "Disabled"
    before = snapshot(state)
    for bad in ("disabled", "ENABLED", "Paused"):
        admin.fails("createWebhook", 431, "Invalid state specified", name="x",
                    payloadurl=URL + "x", state=bad)
    for bad in ("local", "GLOBAL", "Everything"):
        admin.fails("createWebhook", 431, "Invalid scope specified", name="x",
                    payloadurl=URL + "x", scope=bad)
    assert snapshot(state) == before


# --- bad input from the issue: exact code and text, nothing written ---------------------------

LONG = "x" * 5000
BAD_CREATE = [
    ({"payloadurl": URL}, 431,
     "Unable to execute API command createwebhook due to missing parameter name"),
    ({"name": "x"}, 431,
     "Unable to execute API command createwebhook due to missing parameter payloadurl"),
    ({"name": "", "payloadurl": URL}, 431,
     "Unable to execute API command createwebhook due to missing parameter name"),
    ({"name": "x", "payloadurl": "ftp://example.com/hook"}, 431,
     "Unsupported URL scheme [ftp], only HTTP/HTTPS are supported"),
    ({"name": "x", "payloadurl": "javascript:alert(1)"}, 431,
     "Unsupported URL scheme [javascript], only HTTP/HTTPS are supported"),
    ({"name": "x", "payloadurl": "file:///etc/passwd"}, 431,
     "Unsupported URL scheme [file], only HTTP/HTTPS are supported"),
    ({"name": "x", "payloadurl": "HTTPS://smee.io/x"}, 431,
     "Unsupported URL scheme [HTTPS], only HTTP/HTTPS are supported"),
    ({"name": "x", "payloadurl": "http://"}, 431,
     "Invalid webhook payload URL host in [http://]"),
    ({"name": "x", "payloadurl": "http:///hook"}, 431,
     "Invalid webhook payload URL host in [http:///hook]"),
    ({"name": "x", "payloadurl": "http://nonexistent.invalid/hook"}, 431,
     "Failed to resolve webhook payload URL host [nonexistent.invalid]"),
    ({"name": "x", "payloadurl": "http://169.254.169.254/latest/meta-data/"}, 431,
     "Webhook payload URL [http://169.254.169.254/latest/meta-data/] resolves to a blocked IP "
     "address"),
    ({"name": "x", "payloadurl": "http://[::ffff:169.254.169.254]/latest"}, 431,
     "Webhook payload URL [http://[::ffff:169.254.169.254]/latest] resolves to a blocked IP "
     "address"),
    ({"name": "x", "payloadurl": "http://2852039166/latest"}, 431,
     "Webhook payload URL [http://2852039166/latest] resolves to a blocked IP address"),
    ({"name": "x", "payloadurl": "http://0xa9fea9fe/latest"}, 431,
     "Webhook payload URL [http://0xa9fea9fe/latest] resolves to a blocked IP address"),
    ({"name": "x", "payloadurl": "169.254.169.254"}, 431,
     "Webhook payload URL [http://169.254.169.254] resolves to a blocked IP address"),
    ({"name": "x", "payloadurl": "http://metadata.example.com/"}, 431,
     "Webhook payload URL [http://metadata.example.com/] resolves to a blocked IP address"),
    ({"name": "x", "payloadurl": "http://0.0.0.0:8080/"}, 431,
     "Webhook payload URL [http://0.0.0.0:8080/] resolves to a blocked IP address"),
    ({"name": "x", "payloadurl": "http://[fe80::1]/"}, 431,
     "Webhook payload URL [http://[fe80::1]/] resolves to a blocked IP address"),
    ({"name": "x", "payloadurl": "http://smee.io:99999/"}, 431,
     "Invalid URL: http://smee.io:99999/"),
    ({"name": LONG, "payloadurl": URL}, 431,
     "Unable to execute API command createwebhook due to invalid value. Value greater than max "
     "allowed length 255 for param: name"),
    ({"name": "x", "payloadurl": "http://smee.io/" + LONG}, 431,
     "Unable to execute API command createwebhook due to invalid value. Value greater than max "
     "allowed length 255 for param: payloadurl"),
    # 250 characters without a scheme become 257 once normalised: still refused, never cut.
    ({"name": "x", "payloadurl": "smee.io/" + "p" * 242}, 431,
     "Unable to execute API command createwebhook due to invalid value. Value greater than max "
     "allowed length 255 for param: payloadurl"),
    ({"name": "x", "payloadurl": URL, "description": "d" * 4097}, 431,
     "Unable to execute API command createwebhook due to invalid value. Value greater than max "
     "allowed length 4096 for param: description"),
    ({"name": "x", "payloadurl": URL, "secretkey": "s" * 100_000}, 431,
     "Unable to execute API command createwebhook due to invalid value. Value greater than max "
     "allowed length 160 for param: secretkey"),
    # 100 characters, 200 bytes: the ciphertext would not fit varchar(255).
    ({"name": "x", "payloadurl": URL, "secretkey": "é" * 100}, 431,
     "Unable to execute API command createwebhook due to invalid value. Value greater than max "
     "allowed length 160 for param: secretkey"),
    ({"name": "x", "payloadurl": URL, "state": "enabled"}, 431, "Invalid state specified"),
    ({"name": "x", "payloadurl": URL, "scope": "Planet"}, 431, "Invalid scope specified"),
    ({"name": "x", "payloadurl": URL, "account": "admin"}, 431,
     "AccountName and domainId must be specified together"),
]


@pytest.mark.parametrize(("params", "code", "text"), BAD_CREATE,
                         ids=[t[2][:60] for t in BAD_CREATE])
def test_bad_create_input(admin, state, params, code, text) -> None:
    admin.ok("createWebhook", name="existing", payloadurl="http://other.example.com/")
    before = snapshot(state)
    res = admin.fails("createWebhook", code, text, method="POST", **params)
    assert res.envelope == "createwebhookresponse"
    assert snapshot(state) == before


def test_exactly_the_length_limits_are_accepted(admin) -> None:
    url = "http://smee.io/" + "p" * (255 - len("http://smee.io/"))
    w = admin.ok("createWebhook", method="POST", name="n" * 255, payloadurl=url,
                 description="d" * 4096)["webhook"]
    assert (len(w["name"]), len(w["payloadurl"]), len(w["description"])) == (255, 255, 4096)


def test_policy_settings_of_the_owners_domain(admin, app, state) -> None:
    from csapi.db.models import DomainDetail

    dom_id, dom_uuid = create_domain(state, "strict")
    carol = create_tenant(app, state, "carol", dom_id)
    with transaction(state.sessions) as db:
        db.add(DomainDetail(domain_id=dom_id, name="webhook.delivery.allow.http", value="false"))
        db.add(DomainDetail(domain_id=dom_id, name="webhook.delivery.blocklist",
                            value="93.184.216.0/24"))
    carol.client.fails("createWebhook", 431, "Only HTTPS webhook payload URLs are allowed, got: "
                       "http://127.0.0.1:9/h", name="x", payloadurl="http://127.0.0.1:9/h")
    carol.client.fails("createWebhook", 431, "Webhook payload URL [https://smee.io/x] resolves "
                       "to a blocked IP address", name="x", payloadurl="https://smee.io/x")
    carol.client.ok("createWebhook", name="x", payloadurl="https://127.0.0.1:9/h")
    # The root admin creating in carol's name is held to carol's domain policy.
    admin.fails("createWebhook", 431, "Only HTTPS webhook payload URLs are allowed, got: "
                "http://127.0.0.1:9/h", name="x", payloadurl="http://127.0.0.1:9/h",
                account="carol", domainid=dom_uuid)
    # ROOT's defaults are unchanged.
    admin.ok("createWebhook", name="x", payloadurl="http://127.0.0.1:9/h")
    with transaction(state.sessions) as db:
        from csapi.db.models import Configuration

        db.get(Configuration, "webhook.delivery.block.local.addresses").value = "true"
    admin.fails("createWebhook", 431, "Webhook payload URL [http://127.0.0.1:10/h] resolves to "
                "a blocked IP address", name="x", payloadurl="http://127.0.0.1:10/h")


# --- owners and scopes --------------------------------------------------------------------------

def test_owner_and_scope_rules(admin, app, state) -> None:
    d_id, d_uuid = create_domain(state, "d1")
    sub_id, sub_uuid = create_domain(state, "sub", d_id)
    dadmin = create_tenant(app, state, "dadmin", d_id, account_type=2)
    user = create_tenant(app, state, "user1", sub_id)

    # Root admin: Domain scope on another domain stores that domain.
    w = admin.ok("createWebhook", name="r", payloadurl=URL, scope="Domain",
                 domainid=d_uuid)["webhook"]
    assert (w["scope"], w["domainid"], w["domain"], w["domainpath"], w["account"]) == (
        "Domain", d_uuid, "d1", "ROOT/d1", "admin")
    # Local scope with domainid keeps the owner's domain (rule 8 applies to Domain only).
    w = admin.ok("createWebhook", name="r2", payloadurl=URL + "2", domainid=d_uuid)["webhook"]
    assert (w["scope"], w["domain"]) == ("Local", "ROOT")
    # Domain admin: Domain scope on its sub-domain; Global refused.
    w = dadmin.client.ok("createWebhook", name="da", payloadurl=URL, scope="Domain",
                         domainid=sub_uuid)["webhook"]
    assert (w["domainid"], w["domainpath"], w["account"]) == (sub_uuid, "ROOT/d1/sub", "dadmin")
    before = snapshot(state)
    dadmin.client.fails("createWebhook", 431, "Scope Global can not be specified for owner "
                        "dadmin", name="g", payloadurl=URL + "g", scope="Global")
    # Root admin creating for the user: the user's account decides the allowed scope.
    admin.fails("createWebhook", 431, "Scope Domain can not be specified for owner user1",
                name="u", payloadurl=URL + "u", scope="Domain", account="user1",
                domainid=sub_uuid)
    # A domain admin may not reach outside its subtree.
    dadmin.client.fails("createWebhook", 531, "Account dadmin does not have permission to "
                        "operate within domain id=" + before_root_uuid(state),
                        name="x", payloadurl=URL + "x", domainid=before_root_uuid(state))
    # A user's scope is silently dropped: Local in its own domain.
    assert snapshot(state) == before
    w = user.client.ok("createWebhook", name="u", payloadurl=URL, scope="Global")["webhook"]
    assert (w["scope"], w["domainid"], w["account"]) == ("Local", sub_uuid, "user1")
    w = user.client.ok("createWebhook", name="u2", payloadurl=URL + "2", scope="Domain",
                       domainid=sub_uuid)["webhook"]
    assert (w["scope"], w["domainid"]) == ("Local", sub_uuid)


def before_root_uuid(state) -> str:
    from csapi.db.models import Domain

    with transaction(state.sessions) as db:
        return db.get(Domain, 1).uuid


def test_admins_create_for_accounts_they_may_operate(admin, app, state) -> None:
    d_id, d_uuid = create_domain(state, "d1")
    dadmin = create_tenant(app, state, "dadmin", 1, account_type=2)  # a ROOT-domain admin
    bob = create_tenant(app, state, "bob", d_id)
    w = dadmin.client.ok("createWebhook", name="b", payloadurl=URL, account="bob",
                         domainid=d_uuid)["webhook"]
    assert (w["account"], w["domainid"]) == ("bob", d_uuid)
    root_uuid = before_root_uuid(state)
    before = snapshot(state)
    # Never in the root admin's name (that would allow a Global webhook).
    dadmin.client.fails("createWebhook", 531, "Account dadmin does not have permission to "
                        "operate with resource account admin", name="g", payloadurl=URL + "g",
                        account="admin", domainid=root_uuid, scope="Global")
    # finalizeOwner's texts name internal ids, as CloudStack's do.
    admin.fails("createWebhook", 431, f"Unable to find account nobody in domain {d_id}",
                name="n", payloadurl=URL + "n", account="nobody", domainid=d_uuid)
    bob.client.fails("createWebhook", 531, f"Can't create/list resources for account dadmin in "
                     f"domain {d_id}, permission denied", name="n", payloadurl=URL + "n",
                     account="dadmin", domainid=d_uuid)
    assert snapshot(state) == before
    # A user naming itself is fine.
    w = bob.client.ok("createWebhook", name="self", payloadurl=URL + "s", account="bob",
                      domainid=d_uuid)["webhook"]
    assert w["account"] == "bob"


def test_project_webhooks(admin, app, state) -> None:
    d_id, d_uuid = create_domain(state, "d1")
    alice = create_tenant(app, state, "alice", d_id)
    bob = create_tenant(app, state, "bob", d_id)
    member = create_tenant(app, state, "member", d_id)
    p_id, p_uuid, p_acct = create_project(state, "prj", d_id, alice.account_id, (member.account_id,))
    w = member.client.ok("createWebhook", name="p", payloadurl=URL, projectid=p_uuid)["webhook"]
    assert list(w) == in_order(w, WEBHOOK_FIELDS)
    assert "account" not in w and (w["projectid"], w["project"]) == (p_uuid, "prj")
    with transaction(state.sessions) as db:
        assert db.scalar(select(Webhook.account_id).where(Webhook.uuid == w["id"])) == p_acct
    before = snapshot(state)
    bob.client.fails("createWebhook", 531, f"Account bob is unauthorised to use project "
                     f"id={p_id}", name="p", payloadurl=URL + "b", projectid=p_uuid)
    alice.client.fails("createWebhook", 431, "ProjectId and account/domainId can't be specified "
                       "together", name="p", payloadurl=URL + "a", projectid=p_uuid,
                       account="alice", domainid=d_uuid)
    assert snapshot(state) == before
    # Project webhooks are listed with projectid, to members only.
    assert [x["id"] for x in alice.client.ok("listWebhooks", projectid=p_uuid)["webhook"]] == [
        w["id"]]
    assert alice.client.ok("listWebhooks") == {}
    bob.client.fails("listWebhooks", 531, f"Account bob can't access project id={p_uuid}",
                     projectid=p_uuid)
    assert admin.ok("listWebhooks", projectid=-1)["webhook"][0]["id"] == w["id"]
    alice.client.ok("updateWebhook", id=w["id"], description="by the project admin")
    bob.client.fails("updateWebhook", 531, f"Account bob does not have permission to operate "
                     f"with resource Webhook {w['id']}", id=w["id"], description="x")


# --- list ------------------------------------------------------------------------------------

def test_list_filters(admin) -> None:
    a = admin.ok("createWebhook", name="alpha", payloadurl=URL + "a")["webhook"]
    b = admin.ok("createWebhook", name="beta", payloadurl=URL + "b", state="Disabled",
                 scope="Global")["webhook"]
    c = admin.ok("createWebhook", name="alphabet", payloadurl=URL + "c", scope="Domain")["webhook"]

    def ids(**kw) -> list[str]:
        body = admin.ok("listWebhooks", **kw)
        assert body.get("count", 0) == len(body.get("webhook", []))
        return [w["id"] for w in body.get("webhook", [])]

    assert ids() == [a["id"], b["id"], c["id"]]  # internal id order
    assert ids(name="alpha") == [a["id"]]  # exact
    assert ids(name="ALPHA") == [a["id"]]  # SQL equality as on CloudStack's MySQL
    assert ids(keyword="lph") == [a["id"], c["id"]]  # LIKE on the name
    assert ids(keyword="smee") == []  # not on the URL
    assert ids(state="Disabled") == [b["id"]]
    assert ids(scope="Global") == [b["id"]]
    assert ids(scope="Domain") == [c["id"]]
    assert ids(id=c["id"]) == [c["id"]]
    body = admin.ok("listWebhooks", page=2, pagesize=2)
    assert body["count"] == 3 and [w["id"] for w in body["webhook"]] == [c["id"]]
    admin.fails("listWebhooks", 431, "Invalid state specified", state="enabled")
    admin.fails("listWebhooks", 431, "Invalid scope specified", scope="global")


def test_list_scope_restrictions(admin, app, state) -> None:
    dadmin = create_tenant(app, state, "dadmin", 1, account_type=2)
    user = create_tenant(app, state, "u")
    dadmin.client.fails("listWebhooks", 431, "Scope Global can not be specified", scope="Global")
    assert dadmin.client.ok("listWebhooks", scope="Domain") == {}
    # A user's scope parameter is dropped, not refused.
    user.client.ok("createWebhook", name="mine", payloadurl=URL)
    assert user.client.ok("listWebhooks", scope="Global")["count"] == 1


def test_list_visibility(admin, app, state) -> None:
    p_id, p_uuid = create_domain(state, "parent")
    c_id, c_uuid = create_domain(state, "child", p_id)
    s_id, _ = create_domain(state, "sibling")
    padmin = create_tenant(app, state, "padmin", p_id, account_type=2)
    alice = create_tenant(app, state, "alice", c_id)
    eve = create_tenant(app, state, "eve", s_id)
    root_hook = admin.ok("createWebhook", name="root", payloadurl=URL)["webhook"]
    # A root admin webhook stored on the parent domain: still not the domain admin's to see.
    root_on_p = admin.ok("createWebhook", name="rootp", payloadurl=URL + "p", scope="Domain",
                         domainid=p_uuid)["webhook"]
    pa = padmin.client.ok("createWebhook", name="pa", payloadurl=URL)["webhook"]
    al = alice.client.ok("createWebhook", name="al", payloadurl=URL)["webhook"]
    ev = eve.client.ok("createWebhook", name="ev", payloadurl=URL)["webhook"]

    def ids(client, **kw) -> set[str]:
        return {w["id"] for w in client.ok("listWebhooks", **kw).get("webhook", [])}

    everything = {root_hook["id"], root_on_p["id"], pa["id"], al["id"], ev["id"]}
    assert ids(admin) == {root_hook["id"], root_on_p["id"]}  # listall=false: own only
    assert ids(admin, listall=True) == everything
    assert ids(padmin.client) == {pa["id"]}
    assert ids(padmin.client, listall=True) == {pa["id"], al["id"]}
    assert ids(padmin.client, domainid=c_uuid) == {al["id"]}
    assert ids(padmin.client, domainid=p_uuid, isrecursive=True) == {pa["id"], al["id"]}
    assert ids(padmin.client, id=root_on_p["id"]) == set()
    assert ids(padmin.client, id=ev["id"]) == set()
    assert ids(alice.client, listall=True) == {al["id"]}
    assert ids(alice.client, id=ev["id"]) == set()
    assert ids(eve.client, listall=True) == {ev["id"]}
    assert ids(admin, account="alice", domainid=c_uuid) == {al["id"]}
    padmin.client.fails("listWebhooks", 531, f"Account padmin does not have permission to "
                        f"operate within domain id={before_root_uuid(state)}",
                        domainid=before_root_uuid(state))


# --- update ----------------------------------------------------------------------------------

def test_update(admin, state, hook) -> None:
    res = admin.call("updateWebhook", id=hook["id"], name="renamed", description="new",
                     state="Disabled", payloadurl="https://smee.io/new", sslverification=True,
                     secretkey="k2", scope="Global")
    assert res.status == 200 and res.envelope == "updatewebhookresponse"
    w = res.body["webhook"]
    assert list(w) == in_order(w, WEBHOOK_FIELDS)
    assert (w["name"], w["description"], w["state"], w["payloadurl"], w["sslverification"],
            w["secretkey"], w["scope"]) == ("renamed", "new", "Disabled", "https://smee.io/new",
                                            True, "k2", "Global")
    assert w["created"] == hook["created"] and w["id"] == hook["id"]
    # Blank name is ignored; empty description clears; blank secret removes it.
    w = admin.ok("updateWebhook", id=hook["id"], name="  ", description="", secretkey=" ")[
        "webhook"]
    assert w["name"] == "renamed" and w["description"] == "" and "secretkey" not in w
    with transaction(state.sessions) as db:
        assert db.scalar(select(Webhook.secret_key).where(Webhook.uuid == hook["id"])) is None
    # Nothing given: the object, unchanged.
    assert admin.ok("updateWebhook", id=hook["id"])["webhook"] == w
    with transaction(state.sessions) as db:
        ev = list(db.scalars(select(Event).where(Event.type == "WEBHOOK.UPDATE")))
        assert len(ev) == 3 and ev[0].description == "Successfully completed updating Webhook"
        assert ev[0].resource_type == "Webhook"


def test_update_url_checks(admin, state, hook) -> None:
    admin.ok("createWebhook", name="other", payloadurl="http://hooks.example.com/x")
    before = snapshot(state)
    admin.fails("updateWebhook", 431, "Payload URL: http://hooks.example.com/x is already in "
                "use by another webhook", id=hook["id"], payloadurl="hooks.example.com/x")
    admin.fails("updateWebhook", 431, "Webhook payload URL [http://169.254.169.254/] resolves "
                "to a blocked IP address", id=hook["id"], payloadurl="http://169.254.169.254/")
    admin.fails("updateWebhook", 431, "Unsupported URL scheme [ftp], only HTTP/HTTPS are "
                "supported", id=hook["id"], payloadurl="ftp://x/")
    admin.fails("updateWebhook", 431, f"SSL verification can be specified only for HTTPS URLs, "
                f"{URL}", id=hook["id"], sslverification=True)
    admin.fails("updateWebhook", 431, "Invalid state specified", id=hook["id"], state="off")
    admin.fails("updateWebhook", 431, "Invalid scope specified", id=hook["id"], scope="x")
    admin.fails("updateWebhook", 431, "Unable to execute API command updatewebhook due to "
                "invalid value. Value greater than max allowed length 160 for param: secretkey",
                id=hook["id"], secretkey="s" * 161)
    # A failing check after a change (name) leaves nothing half-written.
    admin.fails("updateWebhook", 431, "Invalid scope specified", id=hook["id"], name="changed",
                scope="nope")
    assert snapshot(state) == before
    # Its own URL is not a duplicate of itself; empty payloadurl is ignored.
    assert admin.ok("updateWebhook", id=hook["id"], payloadurl=URL)["webhook"]["payloadurl"] == URL
    assert admin.ok("updateWebhook", id=hook["id"], payloadurl="")["webhook"]["payloadurl"] == URL


def test_update_scope_checked_against_owner(admin, app, state) -> None:
    bob = create_tenant(app, state, "bob")
    w = bob.client.ok("createWebhook", name="b", payloadurl=URL)["webhook"]
    admin.fails("updateWebhook", 431, "Scope Domain can not be specified for owner bob",
                id=w["id"], scope="Domain")
    # bob's own scope parameter is dropped.
    assert bob.client.ok("updateWebhook", id=w["id"], scope="Global")["webhook"]["scope"] == "Local"


# --- delete ----------------------------------------------------------------------------------

def test_delete_is_soft(admin, state, hook) -> None:
    res = admin.call("deleteWebhook", id=hook["id"])
    assert res.status == 200 and res.body == {"success": True}
    assert res.envelope == "deletewebhookresponse"
    with transaction(state.sessions) as db:
        row = db.scalar(select(Webhook).where(Webhook.uuid == hook["id"]))
        assert row is not None and row.removed is not None
        ev = db.scalar(select(Event).where(Event.type == "WEBHOOK.DELETE"))
        assert ev.description == "Successfully completed deleting Webhook"
        assert (ev.resource_type, ev.resource_id) == ("Webhook", row.id)
    assert admin.ok("listWebhooks", id=hook["id"]) == {}
    assert admin.ok("listWebhooks", listall=True) == {}
    before = snapshot(state)
    text = "Unable to find the webhook with the specified ID"
    admin.fails("deleteWebhook", 431, text, id=hook["id"])
    admin.fails("updateWebhook", 431, text, id=hook["id"], name="x")
    admin.fails("deleteWebhook", 431, "Unable to execute API command deletewebhook due to "
                "invalid value. Invalid parameter id value=00000000-0000-4000-8000-000000000000 "
                "due to incorrect long value format, or entity does not exist or due to "
                "incorrect parameter annotation for the field in api cmd class.",
                id="00000000-0000-4000-8000-000000000000")
    admin.fails("deleteWebhook", 431, "Unable to execute API command deletewebhook due to "
                "missing parameter id")
    assert snapshot(state) == before
    # The URL is free again once the webhook is gone.
    admin.ok("createWebhook", name="again", payloadurl=URL)


def test_other_tenants_uuids(admin, app, state) -> None:
    alice = create_tenant(app, state, "alice")
    bob = create_tenant(app, state, "bob")
    w = alice.client.ok("createWebhook", name="a", payloadurl=URL, secretkey="alice")["webhook"]
    before = snapshot(state)
    denied = f"Account bob does not have permission to operate with resource Webhook {w['id']}"
    bob.client.fails("updateWebhook", 531, denied, id=w["id"], payloadurl=URL + "x")
    bob.client.fails("deleteWebhook", 531, denied, id=w["id"])
    assert bob.client.ok("listWebhooks", id=w["id"]) == {}
    assert bob.client.ok("listWebhooks", id=w["id"], listall=True) == {}
    assert snapshot(state) == before
    assert "alice" not in json.dumps(bob.client.ok("listWebhooks", listall=True))


# --- life cycle ---------------------------------------------------------------------------------

def test_a_project_with_webhooks_cannot_be_deleted(admin, app, state) -> None:
    """The webhook belongs to the project's account (through projectid), so deleteProject
    refuses until it is gone (spec §5.7)."""
    from tests.tenancy_helpers import job_fails, job_ok, wait_job

    alice = create_tenant(app, state, "alice")
    created = alice.client.ok("createProject", name="prj", displaytext="prj")
    project = wait_job(alice.client, created["jobid"])["jobresult"]["project"]
    w = alice.client.ok("createWebhook", name="p", payloadurl=URL,
                        projectid=project["id"])["webhook"]
    job_fails(alice.client, "deleteProject", 530, "Can't delete the project yet because it "
              "has 1 Webhook to clean up", id=project["id"])
    alice.client.ok("deleteWebhook", id=w["id"])
    assert job_ok(alice.client, "deleteProject", id=project["id"]) == {"success": True}

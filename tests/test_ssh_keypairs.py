"""SSH key pairs: generation, registration, fingerprints, owners, visibility and the
REGISTER.SSH.KEYPAIR events CloudStack's webhook smoke tests rely on."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy import func, select

from csapi.db import transaction
from csapi.db.models import Event, SSHKeyPair
from csapi.events import PublishedEvent
from tests.factories import Tenant, create_domain, create_project, create_tenant

KEY_FIELDS = ["id", "name", "account", "domainid", "domain", "fingerprint", "hasannotations"]


def openssh(private_key: Any, comment: str = "") -> str:
    text = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{text} {comment}" if comment else text


def md5_fingerprint(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split(" ")[1])).digest()
    return ":".join(f"{b:02x}" for b in digest)


RSA_KEY = openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048), "me@host")
ED_KEY = openssh(ed25519.Ed25519PrivateKey.generate(), "laptop")
EC_KEY = openssh(ec.generate_private_key(ec.SECP384R1()))


def pairs_and_events(state: Any) -> tuple[int, int]:
    with transaction(state.sessions) as db:
        return (db.scalar(select(func.count()).select_from(SSHKeyPair)),
                db.scalar(select(func.count()).select_from(Event)))


@pytest.fixture
def alice(app, state) -> Tenant:  # type: ignore[no-untyped-def]
    return create_tenant(app, state, "alice")


@pytest.fixture
def bob(app, state) -> Tenant:  # type: ignore[no-untyped-def]
    return create_tenant(app, state, "bob")


# --- createSSHKeyPair -------------------------------------------------------------------------

def test_create_returns_the_private_key_once(alice, state) -> None:
    pair = alice.client.ok("createSSHKeyPair", name="gen")["keypair"]
    assert list(pair) == KEY_FIELDS + ["privatekey"]
    assert pair["name"] == "gen" and pair["account"] == "alice"
    assert pair["domainid"] == alice.domain_uuid and pair["domain"] == "ROOT"
    assert pair["hasannotations"] is False
    assert pair["privatekey"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(pair["privatekey"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert pair["fingerprint"] == md5_fingerprint(openssh(key))
    with transaction(state.sessions) as db:
        row = db.scalar(select(SSHKeyPair).where(SSHKeyPair.uuid == pair["id"]))
        assert row.public_key == openssh(key)
        assert "PRIVATE" not in row.public_key and row.fingerprint == pair["fingerprint"]
    listed = alice.client.ok("listSSHKeyPairs")["sshkeypair"][0]
    assert "privatekey" not in listed and listed["id"] == pair["id"]


def test_create_records_no_event(alice, state) -> None:
    alice.client.ok("createSSHKeyPair", name="quiet")
    assert pairs_and_events(state) == (1, 0)


def test_create_rejections(alice, state) -> None:
    alice.client.ok("createSSHKeyPair", name="taken")
    before = pairs_and_events(state)
    alice.client.fails("createSSHKeyPair", 431, "A key pair with name 'taken' already exists.",
                       name="taken")
    alice.client.fails("createSSHKeyPair", 431, "Please specify a valid name for the key pair. "
                       "The key name can't be empty", name="   ")
    alice.client.fails("createSSHKeyPair", 431, "Unable to execute API command "
                       "createsshkeypair due to missing parameter name")
    assert pairs_and_events(state) == before


# --- registerSSHKeyPair -----------------------------------------------------------------------

@pytest.mark.parametrize("key", [RSA_KEY, ED_KEY, EC_KEY], ids=["rsa", "ed25519", "ecdsa"])
def test_register_key_types(alice, state, key) -> None:
    pair = alice.client.ok("registerSSHKeyPair", name="mine", publickey=key)["keypair"]
    assert list(pair) == KEY_FIELDS
    assert pair["fingerprint"] == md5_fingerprint(key)
    assert len(pair["fingerprint"]) == 47
    with transaction(state.sessions) as db:
        stored = db.scalar(select(SSHKeyPair.public_key).where(SSHKeyPair.uuid == pair["id"]))
    assert stored == " ".join(key.split(" ")[:2])  # the comment is dropped


def test_register_base64_encoded_key_material(alice) -> None:
    material = base64.b64encode(RSA_KEY.encode()).decode()
    pair = alice.client.ok("registerSSHKeyPair", name="b64", publickey=material)["keypair"]
    assert pair["fingerprint"] == md5_fingerprint(RSA_KEY)
    # A key file's content (no comment, trailing newline), Base64-encoded as a whole.
    material = base64.b64encode(ED_KEY.split(" ")[0].encode() + b" "
                                + ED_KEY.split(" ")[1].encode() + b"\n").decode()
    pair = alice.client.ok("registerSSHKeyPair", name="file", publickey=material)["keypair"]
    assert pair["fingerprint"] == md5_fingerprint(ED_KEY)


def test_known_fingerprint_vector(alice) -> None:
    # RFC 4253 blob of a fixed key; the expected value is `ssh-keygen -l -E md5`'s format.
    blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(32)))
    key = "ssh-ed25519 " + blob.decode()
    expected = ":".join(f"{b:02x}" for b in hashlib.md5(base64.b64decode(blob)).digest())
    pair = alice.client.ok("registerSSHKeyPair", name="fixed", publickey=key)["keypair"]
    assert pair["fingerprint"] == expected


@pytest.mark.parametrize("material", [
    "ssh-rsa AAAAthisisnotakey", "ssh-foo AAAAB3NzaC1yc2E", "not-a-key-at-all",
    "ssh-rsa", RSA_KEY.replace("ssh-rsa", "ssh-ed25519", 1),
])
def test_invalid_public_keys(alice, state, material) -> None:
    alice.client.fails("registerSSHKeyPair", 431, "Public key is invalid", name="bad",
                       publickey=material)
    assert pairs_and_events(state) == (0, 0)


def test_register_duplicates(alice, bob, state) -> None:
    alice.client.ok("registerSSHKeyPair", name="k", publickey=RSA_KEY)
    before = pairs_and_events(state)
    alice.client.fails("registerSSHKeyPair", 431, "A key pair with name 'k' already exists for "
                       "this account.", name="k", publickey=ED_KEY)
    alice.client.fails("registerSSHKeyPair", 431, f"A key pair with key '{RSA_KEY}' already "
                       "exists for this account.", name="k2", publickey=RSA_KEY)
    assert pairs_and_events(state) == before
    # Another account may register the same key under the same name.
    assert bob.client.ok("registerSSHKeyPair", name="k", publickey=RSA_KEY)["keypair"][
        "account"] == "bob"


def test_register_publishes_started_and_completed_after_commit(alice, state) -> None:
    seen: list[tuple[PublishedEvent, bool]] = []

    def subscriber(event: PublishedEvent) -> None:
        # Visible to another session: the transaction has committed before publication.
        with transaction(state.sessions) as db:
            committed = db.scalar(select(Event.id).where(Event.uuid == event.event_uuid))
        seen.append((event, committed is not None))

    state.bus.subscribe(subscriber)
    try:
        pair = alice.client.ok("registerSSHKeyPair", name="hook", publickey=RSA_KEY)["keypair"]
        alice.client.fails("registerSSHKeyPair", 431, name="hook", publickey=ED_KEY)
        alice.client.ok("createSSHKeyPair", name="other")
    finally:
        state.bus.unsubscribe(subscriber)
    assert [(e.event_type, e.state, ok) for e, ok in seen] == [
        ("REGISTER.SSH.KEYPAIR", "Started", True), ("REGISTER.SSH.KEYPAIR", "Completed", True)]
    started, completed = (json.loads(e.payload) for e, _ in seen)
    assert started["description"] == "Registering ssh keypair"
    assert "entity" not in started and "entityuuid" not in started
    assert completed == {
        "eventDateTime": completed["eventDateTime"], "entityuuid": pair["id"],
        "description": "Successfully completed registering ssh keypair",
        "event": "REGISTER.SSH.KEYPAIR", "user": alice.user_uuid,
        "account": alice.account_uuid, "entity": "SSHKeyPair", "status": "Completed",
        "SSHKeyPair": pair["id"],
    }
    assert list(completed)[:9] == ["eventDateTime", "entityuuid", "description", "event",
                                   "user", "account", "entity", "status", "SSHKeyPair"]
    assert seen[1][0].account_uuid == alice.account_uuid
    with transaction(state.sessions) as db:
        rows = list(db.scalars(select(Event).order_by(Event.id)))
        assert [(r.type, r.state, r.account_id, r.resource_type) for r in rows] == [
            ("REGISTER.SSH.KEYPAIR", "Started", alice.account_id, None),
            ("REGISTER.SSH.KEYPAIR", "Completed", alice.account_id, "SSHKeyPair")]


# --- owners -----------------------------------------------------------------------------------

def test_admin_acts_for_another_account(admin, alice, state) -> None:
    pair = admin.ok("registerSSHKeyPair", name="for-alice", publickey=ED_KEY,
                    account="alice", domainid=alice.domain_uuid)["keypair"]
    assert pair["account"] == "alice"
    assert alice.client.ok("listSSHKeyPairs")["sshkeypair"][0]["id"] == pair["id"]
    with transaction(state.sessions) as db:
        owners = set(db.scalars(select(Event.account_id)))
    assert owners == {2}  # the event belongs to the caller, as CloudStack's does
    admin.fails("createSSHKeyPair", 431, "AccountName and domainId must be specified together",
                name="x", account="alice")
    admin.fails("createSSHKeyPair", 431, "Unable to find account nobody in domain 1",
                name="x", account="nobody", domainid=alice.domain_uuid)


def test_users_cannot_act_for_others(alice, bob, state) -> None:
    before = pairs_and_events(state)
    alice.client.fails("createSSHKeyPair", 531, "Can't create/list resources for account bob in "
                       "domain 1, permission denied", name="x", account="bob",
                       domainid=bob.domain_uuid)
    alice.client.fails("registerSSHKeyPair", 531, "Can't create/list resources for account bob "
                       "in domain 1, permission denied", name="x", publickey=RSA_KEY,
                       account="bob", domainid=bob.domain_uuid)
    assert pairs_and_events(state) == before
    own = alice.client.ok("createSSHKeyPair", name="own", account="alice",
                          domainid=alice.domain_uuid)["keypair"]
    assert own["account"] == "alice"


def test_domain_admin_stays_in_its_subtree(app, state, alice) -> None:
    dept_id, dept_uuid = create_domain(state, "dept")
    dadmin = create_tenant(app, state, "dadmin", domain_id=dept_id, account_type=2)
    member = create_tenant(app, state, "carol", domain_id=dept_id)
    pair = dadmin.client.ok("createSSHKeyPair", name="k", account="carol",
                            domainid=dept_uuid)["keypair"]
    assert pair["account"] == "carol" and pair["domain"] == "dept"
    root_uuid = alice.domain_uuid
    dadmin.client.fails("createSSHKeyPair", 531, "Account dadmin does not have permission to "
                        f"operate within domain id={root_uuid}", name="k", account="alice",
                        domainid=root_uuid)
    assert member.client.ok("listSSHKeyPairs")["count"] == 1


# --- projects ---------------------------------------------------------------------------------

@pytest.fixture
def project(state, alice, bob) -> tuple[int, str, int]:  # type: ignore[no-untyped-def]
    """A project administered by alice with bob as a Regular member."""
    return create_project(state, "p1", 1, alice.account_id, members=(bob.account_id,))


def test_project_members_own_keys_through_the_project(app, state, alice, bob, project) -> None:
    project_id, project_uuid, project_account = project
    pair = bob.client.ok("registerSSHKeyPair", name="shared", publickey=RSA_KEY,
                         projectid=project_uuid)["keypair"]
    assert list(pair) == ["id", "name", "account", "domainid", "domain", "projectid", "project",
                          "fingerprint", "hasannotations"]
    assert pair["account"] == "PrjAcct-p1"
    assert pair["projectid"] == project_uuid and pair["project"] == "p1"
    with transaction(state.sessions) as db:
        owners = [r.account_id for r in db.scalars(select(Event).order_by(Event.id))]
    assert owners == [project_account, project_account]
    # Project keys appear only when the project is asked for.
    assert bob.client.ok("listSSHKeyPairs") == {}
    listed = alice.client.ok("listSSHKeyPairs", projectid=project_uuid)
    assert [p["id"] for p in listed["sshkeypair"]] == [pair["id"]]
    assert alice.client.ok("listSSHKeyPairs", projectid=-1)["count"] == 1
    assert bob.client.ok("deleteSSHKeyPair", name="shared",
                         projectid=project_uuid) == {"success": True}


def test_project_payload_names_the_project(state, bob, project) -> None:
    _, project_uuid, _ = project
    seen: list[PublishedEvent] = []
    state.bus.subscribe(seen.append)
    try:
        bob.client.ok("registerSSHKeyPair", name="p", publickey=ED_KEY, projectid=project_uuid)
    finally:
        state.bus.unsubscribe(seen.append)
    assert [json.loads(e.payload)["project"] for e in seen] == [project_uuid, project_uuid]


def test_outsiders_cannot_use_a_project(app, state, project) -> None:
    project_id, project_uuid, _ = project
    mallory = create_tenant(app, state, "mallory")
    mallory.client.fails("createSSHKeyPair", 531, "Account mallory is unauthorised to use "
                         f"project id={project_id}", name="x", projectid=project_uuid)
    mallory.client.fails("listSSHKeyPairs", 531, f"Account mallory can't access project "
                         f"id={project_uuid}", projectid=project_uuid)
    assert pairs_and_events(state) == (0, 0)


def test_project_and_account_are_exclusive(admin, alice, project) -> None:
    _, project_uuid, _ = project
    admin.fails("createSSHKeyPair", 431, "ProjectId and account/domainId can't be specified "
                "together", name="x", projectid=project_uuid, account="alice",
                domainid=alice.domain_uuid)
    admin.fails("listSSHKeyPairs", 431, "Account and projectId can't be specified together",
                projectid=project_uuid, account="alice")


# --- listSSHKeyPairs --------------------------------------------------------------------------

def test_listing_visibility_and_filters(admin, app, state, alice, bob) -> None:
    a1 = alice.client.ok("registerSSHKeyPair", name="alpha", publickey=RSA_KEY)["keypair"]
    a2 = alice.client.ok("registerSSHKeyPair", name="beta", publickey=ED_KEY)["keypair"]
    b1 = bob.client.ok("registerSSHKeyPair", name="gamma", publickey=EC_KEY)["keypair"]
    mine = alice.client.ok("listSSHKeyPairs")
    assert mine["count"] == 2
    assert [p["id"] for p in mine["sshkeypair"]] == [a2["id"], a1["id"]]  # newest first
    assert alice.client.ok("listSSHKeyPairs", listall=True)["count"] == 2
    assert alice.client.ok("listSSHKeyPairs", id=b1["id"]) == {}
    assert alice.client.ok("listSSHKeyPairs", name="alpha")["sshkeypair"][0]["id"] == a1["id"]
    assert alice.client.ok("listSSHKeyPairs", name="alp") == {}
    assert alice.client.ok("listSSHKeyPairs", fingerprint=a2["fingerprint"])["count"] == 1
    assert alice.client.ok("listSSHKeyPairs", keyword="et")["sshkeypair"][0]["name"] == "beta"
    assert alice.client.ok("listSSHKeyPairs", keyword=a1["fingerprint"][:8])["count"] >= 1
    assert admin.ok("listSSHKeyPairs") == {}  # the admin's own account has none
    assert admin.ok("listSSHKeyPairs", listall=True)["count"] == 3
    assert admin.ok("listSSHKeyPairs", account="bob", domainid=bob.domain_uuid)[
        "sshkeypair"][0]["id"] == b1["id"]
    page = admin.ok("listSSHKeyPairs", listall=True, page=1, pagesize=2)
    assert page["count"] == 3 and len(page["sshkeypair"]) == 2
    alice.client.fails("listSSHKeyPairs", 531, "Account alice does not have permission to "
                       "operate with resource account bob", account="bob",
                       domainid=bob.domain_uuid)


def test_domain_admin_lists_its_domain(app, state, alice) -> None:
    dept_id, dept_uuid = create_domain(state, "dept")
    dadmin = create_tenant(app, state, "dadmin", domain_id=dept_id, account_type=2)
    carol = create_tenant(app, state, "carol", domain_id=dept_id)
    carol.client.ok("createSSHKeyPair", name="c")
    alice.client.ok("createSSHKeyPair", name="a")
    assert dadmin.client.ok("listSSHKeyPairs") == {}
    body = dadmin.client.ok("listSSHKeyPairs", listall=True)
    assert [p["account"] for p in body["sshkeypair"]] == ["carol"]
    dadmin.client.fails("listSSHKeyPairs", 531, "Account dadmin does not have permission to "
                        f"operate within domain id={alice.domain_uuid}",
                        domainid=alice.domain_uuid)


# --- deleteSSHKeyPair -------------------------------------------------------------------------

def test_delete(admin, alice, bob, state) -> None:
    alice.client.ok("createSSHKeyPair", name="k")
    res = bob.client.fails("deleteSSHKeyPair", 431, "A key pair with name 'k' does not exist "
                           "for account bob in specified domain id", name="k")
    assert res.body["uuidList"] == [{"uuid": bob.domain_uuid, "description": "domainId"}]
    bob.client.fails("deleteSSHKeyPair", 531, "Can't create/list resources for account alice "
                     "in domain 1, permission denied", name="k", account="alice",
                     domainid=alice.domain_uuid)
    assert pairs_and_events(state) == (1, 0)
    assert admin.ok("deleteSSHKeyPair", name="k", account="alice",
                    domainid=alice.domain_uuid) == {"success": True}
    assert alice.client.ok("listSSHKeyPairs") == {}
    alice.client.ok("createSSHKeyPair", name="k")
    assert alice.client.ok("deleteSSHKeyPair", name="k") == {"success": True}
    assert pairs_and_events(state) == (0, 0)


def test_projectid_minus_one_owns_nothing(alice, state) -> None:
    alice.client.fails("createSSHKeyPair", 431, "Unable to find project by id=-1", name="x",
                       projectid=-1)
    alice.client.fails("registerSSHKeyPair", 431, "Unable to find project by id=-1", name="x",
                       publickey=RSA_KEY, projectid=-1)
    assert alice.client.ok("listSSHKeyPairs", projectid=-1) == {}
    assert pairs_and_events(state) == (0, 0)

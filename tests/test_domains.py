"""createDomain, listDomains, listDomainChildren, updateDomain, deleteDomain."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from csapi.db import transaction
from csapi.db.models import Account, Domain, DomainDetail, Project, User, Webhook
from tests.factories import create_project
from tests.tenancy_helpers import (
    client_for,
    event_texts,
    job_fails,
    job_ok,
    new_account,
    new_domain,
    row,
    snapshot,
    wait_job,
)

DOMAIN_KEYS = [
    "id", "name", "level", "parentdomainid", "parentdomainname", "haschild", "path", "state",
    "created",
    "vmlimit", "vmtotal", "vmavailable", "iplimit", "iptotal", "ipavailable",
    "volumelimit", "volumetotal", "volumeavailable", "snapshotlimit", "snapshottotal",
    "snapshotavailable", "templatelimit", "templatetotal", "templateavailable",
    "projectlimit", "projecttotal", "projectavailable", "networklimit", "networktotal",
    "networkavailable", "vpclimit", "vpctotal", "vpcavailable", "cpulimit", "cputotal",
    "cpuavailable", "memorylimit", "memorytotal", "memoryavailable",
    "primarystoragelimit", "primarystoragetotal", "primarystorageavailable",
    "secondarystoragelimit", "secondarystoragetotal", "secondarystorageavailable",
    "hasannotations",
]


def domain_id(state, uuid_: str) -> int:
    return row(state, Domain, uuid_).id


def set_domain(st, uuid_: str, **values) -> None:
    with transaction(st.sessions) as db:
        db.execute(update(Domain).where(Domain.uuid == uuid_).values(**values))


# --- createDomain -------------------------------------------------------------------------

def test_create_domain_answers_a_full_domain_object(admin, state):
    root = admin.ok("listDomains", name="ROOT")["domain"][0]
    d1 = new_domain(admin, "d1")
    assert list(d1) == DOMAIN_KEYS
    assert (d1["name"], d1["level"], d1["path"], d1["state"]) == ("d1", 1, "ROOT/d1", "Active")
    assert (d1["parentdomainid"], d1["parentdomainname"]) == (root["id"], "ROOT")
    assert d1["haschild"] is False and d1["hasannotations"] is False
    # A fresh sub-domain gets CloudStack's max.domain.* defaults; totals are numbers.
    assert (d1["vmlimit"], d1["vmtotal"], d1["vmavailable"]) == ("40", 0, "40")
    assert (d1["projectlimit"], d1["cpulimit"], d1["memorylimit"]) == ("50", "80", "81920")
    assert d1["secondarystoragetotal"] == 0.0
    assert isinstance(d1["secondarystoragetotal"], float)
    assert d1["secondarystorageavailable"] == "800.0"
    sub = new_domain(admin, "sub", d1["id"])
    assert (sub["level"], sub["path"], sub["parentdomainname"]) == (2, "ROOT/d1/sub", "d1")
    assert admin.ok("listDomains", id=d1["id"])["domain"][0]["haschild"] is True
    with transaction(state.sessions) as db:
        parent = db.scalar(select(Domain).where(Domain.uuid == d1["id"]))
        child = db.scalar(select(Domain).where(Domain.uuid == sub["id"]))
        assert (parent.path, child.path, parent.child_count, child.owner) == (
            "/d1/", "/d1/sub/", 1, 2)
    assert event_texts(state, "DOMAIN.CREATE") == [
        ("Completed", "INFO", "Successfully completed creating Domain. Domain Name: d1"),
        ("Completed", "INFO", "Successfully completed creating Domain. Domain Name: sub, "
         f"Parent DomainId :{domain_id(state, d1['id'])}"),
    ]


def test_create_domain_with_forced_uuid_and_network_domain(admin):
    forced = str(uuid.uuid4())
    d = admin.ok("createDomain", name="east", domainid=forced,
                 networkdomain="east.example.com")["domain"]
    assert d["id"] == forced and d["networkdomain"] == "east.example.com"


def test_create_domain_refusals_write_nothing(admin, app, state):
    d1 = new_domain(admin, "d1")
    d2 = new_domain(admin, "d2")
    d1_id = domain_id(state, d1["id"])
    da2 = new_account(admin, "da2", domainid=d2["id"], accounttype=2)
    user = new_account(admin, "plain", domainid=d1["id"])
    da2_client = client_for(app, admin, da2["user"][0]["id"])
    user_client = client_for(app, admin, user["user"][0]["id"])
    before = snapshot(state)
    admin.fails("createDomain", 431, "Domain with name [D1] already exists for the parent with "
                "ID [1].", name="D1")
    admin.fails("createDomain", 431, "Invalid network domain. Total length should not exceed "
                "190 chars. Each domain label must be between 1 and 63 characters long. It can "
                "contain ASCII letters 'a' through 'z', the digits '0' through '9', and the "
                "hyphen ('-'); it cannot start or end with \"-\".", name="x",
                networkdomain="-bad-.example")
    da2_client.fails("createDomain", 531, f"Account da2 does not have permission to operate "
                     f"within domain id={d1['id']}", name="intruder", parentdomainid=d1["id"])
    res = user_client.fails("createDomain", 432, "The API createDomain does not exist or is not "
                            "available for this account.", name="nope")
    assert res.envelope == "errorresponse"
    admin.fails("createDomain", 431, "Unable to execute API command createdomain due to "
                "missing parameter name")
    set_domain(state, d1["id"], state="Inactive")
    admin.fails("createDomain", 530, "The domain cannot be created as the parent domain d1 is "
                "being deleted", name="late", parentdomainid=d1["id"])
    set_domain(state, d1["id"], state="Active")
    assert snapshot(state) == before
    set_domain(state, d1["id"], removed=row(state, Domain, d1["id"]).created)
    admin.fails("createDomain", 431, f"Unable to create domain orphan, parent domain {d1_id} "
                "not found.", name="orphan", parentdomainid=d1["id"])


def test_domain_admin_creates_inside_its_subtree(admin, app, state):
    d1 = new_domain(admin, "d1")
    da = new_account(admin, "da1", domainid=d1["id"], accounttype=2)
    client = client_for(app, admin, da["user"][0]["id"])
    child = client.ok("createDomain", name="team", parentdomainid=d1["id"])["domain"]
    assert child["path"] == "ROOT/d1/team"
    assert row(state, Domain, child["id"]).owner == row(state, Account, da["id"]).id
    client.fails("createDomain", 531, "Account da1 does not have permission to operate within "
                 f"domain id={admin.ok('listDomains', name='ROOT')['domain'][0]['id']}",
                 name="top")


# --- listDomains / listDomainChildren -----------------------------------------------------

def test_list_domains_for_the_root_admin(admin, state):
    d1 = new_domain(admin, "d1")
    sub = new_domain(admin, "sub", d1["id"])
    d2 = new_domain(admin, "d2")
    body = admin.ok("listDomains")
    assert body["count"] == 4
    assert [d["path"] for d in body["domain"]] == ["ROOT", "ROOT/d1", "ROOT/d1/sub", "ROOT/d2"]
    root = body["domain"][0]
    assert "parentdomainid" not in root and root["level"] == 0 and root["haschild"] is True
    assert (root["vmlimit"], root["vmavailable"], root["secondarystorageavailable"]) == (
        "Unlimited", "Unlimited", "Unlimited")
    assert [d["name"] for d in admin.ok("listDomains", level=1)["domain"]] == ["d1", "d2"]
    assert [d["id"] for d in admin.ok("listDomains", name="sub")["domain"]] == [sub["id"]]
    assert admin.ok("listDomains", name="su") == {}
    assert [d["id"] for d in admin.ok("listDomains", keyword="d")["domain"]] == [
        d1["id"], d2["id"]]
    page = admin.ok("listDomains", page=2, pagesize=3)
    assert page["count"] == 4 and [d["id"] for d in page["domain"]] == [d2["id"]]
    minimal = admin.ok("listDomains", id=d1["id"], details="min")["domain"][0]
    assert "vmlimit" not in minimal and minimal["path"] == "ROOT/d1"
    assert "vmlimit" in admin.ok("listDomains", id=d1["id"], details="resource")["domain"][0]
    admin.fails("listDomains", 431, "The details parameter contains a non permitted value. The "
                "allowed values are [all, resource, min]", details="all,everything")
    with transaction(state.sessions) as db:
        db.add(DomainDetail(domain_id=domain_id(state, d2["id"]), name="dedicated", value="x"))
    assert admin.ok("listDomains", id=d2["id"])["domain"][0]["domaindetails"] == {
        "dedicated": "x"}
    set_domain(state, d2["id"], state="Inactive")
    assert admin.ok("listDomains", id=d2["id"]) == {}
    set_domain(state, d2["id"], removed=row(state, Domain, d2["id"]).created)
    admin.fails("listDomains", 431, f"Domain id={domain_id(state, d2['id'])} doesn't exist",
                id=d2["id"])


def test_list_domains_for_domain_admins_and_users(admin, app):
    d1 = new_domain(admin, "d1")
    sub = new_domain(admin, "sub", d1["id"])
    d2 = new_domain(admin, "d2")
    da = client_for(app, admin, new_account(admin, "da1", domainid=d1["id"],
                                            accounttype=2)["user"][0]["id"])
    user = client_for(app, admin, new_account(admin, "u1", domainid=d1["id"])["user"][0]["id"])
    for client in (da, user):
        assert [d["id"] for d in client.ok("listDomains")["domain"]] == [d1["id"]]
        assert [d["id"] for d in client.ok("listDomains", listall=True)["domain"]] == [
            d1["id"], sub["id"]]
        client.fails("listDomains", 531, f"Account {'da1' if client is da else 'u1'} does not "
                     f"have permission to operate within domain id={d2['id']}", id=d2["id"])
    assert [d["id"] for d in da.ok("listDomains", id=sub["id"])["domain"]] == [sub["id"]]
    user.fails("listDomains", 531, "Account u1 does not have permission to operate within "
               f"domain id={sub['id']}", id=sub["id"])


def test_list_domain_children(admin, app):
    d1 = new_domain(admin, "d1")
    team = new_domain(admin, "team", d1["id"])
    deep = new_domain(admin, "deep", team["id"])
    new_domain(admin, "d2")
    names = [d["name"] for d in admin.ok("listDomainChildren")["domain"]]
    assert names == ["d1", "d2"]
    assert [d["id"] for d in admin.ok("listDomainChildren", id=d1["id"])["domain"]] == [
        team["id"]]
    recursive = admin.ok("listDomainChildren", id=d1["id"], isrecursive=True)["domain"]
    assert [d["id"] for d in recursive] == [team["id"], deep["id"]]
    # listall turns recursion back into direct children (CloudStack's rule).
    both = admin.ok("listDomainChildren", id=d1["id"], isrecursive=True, listall=True)
    assert [d["id"] for d in both["domain"]] == [team["id"]]
    assert [d["name"] for d in admin.ok("listDomainChildren", name="2")["domain"]] == ["d2"]
    da = client_for(app, admin, new_account(admin, "da1", domainid=d1["id"],
                                            accounttype=2)["user"][0]["id"])
    assert [d["id"] for d in da.ok("listDomainChildren")["domain"]] == [team["id"]]
    root_id = admin.ok("listDomains", name="ROOT")["domain"][0]["id"]
    da.fails("listDomainChildren", 531, "Account da1 does not have permission to operate "
             f"within domain id={root_id}", id=root_id)


# --- updateDomain -------------------------------------------------------------------------

def test_rename_rewrites_every_descendant_path(admin, state):
    d1 = new_domain(admin, "d1")
    team = new_domain(admin, "team", d1["id"])
    deep = new_domain(admin, "deep", team["id"])
    other = new_domain(admin, "d10")  # shares a prefix, must keep its path
    renamed = admin.ok("updateDomain", id=d1["id"], name="east",
                       networkdomain="east.example")["domain"]
    assert (renamed["name"], renamed["path"], renamed["networkdomain"]) == (
        "east", "ROOT/east", "east.example")
    paths = {d["id"]: d["path"] for d in admin.ok("listDomains")["domain"]}
    assert paths[team["id"]] == "ROOT/east/team" and paths[deep["id"]] == "ROOT/east/team/deep"
    assert paths[other["id"]] == "ROOT/d10"
    assert row(state, Domain, deep["id"]).path == "/east/team/deep/"
    mid = admin.ok("updateDomain", id=team["id"], name="crew")["domain"]
    assert mid["path"] == "ROOT/east/crew"
    assert row(state, Domain, deep["id"]).path == "/east/crew/deep/"
    cleared = admin.ok("updateDomain", id=d1["id"], networkdomain="")["domain"]
    assert "networkdomain" not in cleared and cleared["name"] == "east"
    assert event_texts(state, "DOMAIN.UPDATE") == [
        ("Completed", "INFO", "Successfully completed updating Domain. Domain Id: "
         f"{domain_id(state, d1['id'])}"),
        ("Completed", "INFO", "Successfully completed updating Domain. Domain Id: "
         f"{domain_id(state, team['id'])}"),
        ("Completed", "INFO", "Successfully completed updating Domain. Domain Id: "
         f"{domain_id(state, d1['id'])}"),
    ]


def test_update_domain_refusals_write_nothing(admin, app, state):
    root_id = admin.ok("listDomains", name="ROOT")["domain"][0]["id"]
    d1 = new_domain(admin, "d1")
    d2 = new_domain(admin, "d2")
    da = client_for(app, admin, new_account(admin, "da1", domainid=d1["id"],
                                            accounttype=2)["user"][0]["id"])
    before = snapshot(state)
    admin.fails("updateDomain", 431, "ROOT domain can not be edited with a new name",
                id=root_id, name="TOP")
    res = admin.fails("updateDomain", 431, "Failed to update specified domain id with name 'D2' "
                      "since it already exists in the system", id=d1["id"], name="D2")
    assert res.body["uuidList"] == [{"uuid": d1["id"], "description": "domainId"}]
    admin.fails("updateDomain", 431, "Invalid network domain. Total length shouldn't exceed 190 "
                "chars. Each domain label must be between 1 and 63 characters long, can contain "
                "ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen "
                "('-'); can't start or end with \"-\"", id=d1["id"], networkdomain="a..b")
    da.fails("updateDomain", 531, f"Account da1 does not have permission to operate within "
             f"domain id={d2['id']}", id=d2["id"], name="mine")
    assert snapshot(state) == before
    # Renaming to its own name is allowed.
    assert admin.ok("updateDomain", id=d1["id"], name="d1")["domain"]["path"] == "ROOT/d1"
    set_domain(state, d2["id"], removed=row(state, Domain, d2["id"]).created)
    res = admin.fails("updateDomain", 431, "Unable to find domain with specified domain id",
                      id=d2["id"])
    assert res.body["uuidList"] == [{"uuid": str(domain_id(state, d2["id"])),
                                     "description": "domainId"}]


# --- deleteDomain -------------------------------------------------------------------------

def test_delete_empty_domain_records_the_job_events(admin, state):
    d1 = new_domain(admin, "d1")
    d1_id = domain_id(state, d1["id"])
    body = admin.ok("deleteDomain", id=d1["id"])
    job = wait_job(admin, body["jobid"])
    assert job["jobstatus"] == 1 and job["jobresult"] == {"success": True}
    assert (job["jobinstancetype"], job["jobinstanceid"]) == ("Domain", d1["id"])
    gone = row(state, Domain, d1["id"])
    assert gone.removed is not None and gone.state.strip() == "Inactive"
    assert row(state, Domain, admin.ok("listDomains", name="ROOT")["domain"][0]["id"]
               ).child_count == 0
    assert [d["name"] for d in admin.ok("listDomains")["domain"]] == ["ROOT"]
    assert event_texts(state, "DOMAIN.DELETE") == [
        ("Scheduled", "INFO", f"Deleting domain with ID: {d1['id']}"),
        ("Started", "INFO", f"Deleting Domain. Domain Id: {d1_id}"),
        ("Completed", "INFO", f"Successfully completed deleting Domain. Domain Id: {d1_id}"),
    ]


def test_delete_domain_without_cleanup_refuses_while_it_has_content(admin, state):
    d1 = new_domain(admin, "d1")
    d1_id = domain_id(state, d1["id"])
    new_account(admin, "alice", domainid=d1["id"])
    text = (f"Delete failed on domain d1 (id: {d1_id}); Please make sure all users and sub "
            "domains have been removed from the domain before deleting")
    before = snapshot(state)
    job_fails(admin, "deleteDomain", 530, text, id=d1["id"])
    after = snapshot(state)
    assert {t: after[t] for t in after if t != "event"} == {
        t: before[t] for t in before if t != "event"}
    assert row(state, Domain, d1["id"]).state.strip() == "Active"
    assert event_texts(state, "DOMAIN.DELETE")[-1] == (
        "Completed", "ERROR", f"Error while deleting Domain. Domain Id: {d1_id}")
    # A sub-domain alone blocks it too.
    d2 = new_domain(admin, "d2")
    new_domain(admin, "leaf", d2["id"])
    job_fails(admin, "deleteDomain", 530, f"Delete failed on domain d2 (id: "
              f"{domain_id(state, d2['id'])}); Please make sure all users and sub domains have "
              "been removed from the domain before deleting", id=d2["id"])
    # Accounts still waiting for clean-up are reported first.
    with transaction(state.sessions) as db:
        db.execute(update(Account).where(Account.domain_id == d1_id).values(
            removed=row(state, Domain, d1["id"]).created, cleanup_needed=True))
    job_fails(admin, "deleteDomain", 530, "Can't delete the domain yet because it has 1 "
              "accounts to cleanup", id=d1["id"])


def test_delete_domain_with_cleanup_removes_the_subtree(admin, state):
    d1 = new_domain(admin, "d1")
    sub = new_domain(admin, "sub", d1["id"])
    alice = new_account(admin, "alice", domainid=d1["id"])
    bob = new_account(admin, "bob", domainid=sub["id"])
    keep = new_account(admin, "keep")
    alice_id, bob_id = row(state, Account, alice["id"]).id, row(state, Account, bob["id"]).id
    _, project_uuid, project_account = create_project(state, "p1", domain_id(state, sub["id"]),
                                                      bob_id)
    with transaction(state.sessions) as db:
        db.add(DomainDetail(domain_id=domain_id(state, d1["id"]), name="k", value="v"))
        for owner in (alice_id, row(state, Account, keep["id"]).id):
            db.add(Webhook(uuid=str(uuid.uuid4()), name=f"hook{owner}", state="Enabled",
                           domain_id=1, account_id=owner, payload_url="http://127.0.0.1/x",
                           scope="Local", created=row(state, Domain, d1["id"]).created))
    job_ok(admin, "deleteDomain", id=d1["id"], cleanup=True)
    with transaction(state.sessions) as db:
        for uuid_ in (d1["id"], sub["id"]):
            assert db.scalar(select(Domain).where(Domain.uuid == uuid_)).removed is not None
        for account_id in (alice_id, bob_id, project_account):
            account = db.get(Account, account_id)
            assert account.removed is not None and account.state == "removed"
        assert db.scalars(select(User).where(User.account_id.in_([alice_id, bob_id]),
                                             User.removed.is_(None))).all() == []
        project = db.scalar(select(Project).where(Project.uuid == project_uuid))
        assert project.removed is not None and project.state == "Disabled"
        hooks = {h.account_id: h.removed for h in db.scalars(select(Webhook))}
        assert hooks[alice_id] is not None
        assert hooks[row(state, Account, keep["id"]).id] is None
        assert db.scalars(select(DomainDetail)).all() == []
    names = [a["name"] for a in admin.ok("listAccounts", listall=True)["account"]]
    assert names == ["admin", "keep"]


def test_delete_domain_refusals(admin, app, state):
    root_id = admin.ok("listDomains", name="ROOT")["domain"][0]["id"]
    d1 = new_domain(admin, "d1")
    d2 = new_domain(admin, "d2")
    da = client_for(app, admin, new_account(admin, "da1", domainid=d1["id"],
                                            accounttype=2)["user"][0]["id"])
    user = client_for(app, admin, new_account(admin, "u1", domainid=d1["id"])["user"][0]["id"])
    job_fails(admin, "deleteDomain", 531, "Can't delete ROOT domain", id=root_id)
    job_fails(da, "deleteDomain", 531, f"Account da1 does not have permission to operate "
              f"within domain id={d2['id']}", id=d2["id"])
    user.fails("deleteDomain", 432, "The API deleteDomain does not exist or is not available "
               "for this account.", id=d1["id"])
    assert row(state, Domain, d2["id"]).removed is None
    job_ok(admin, "deleteDomain", id=d2["id"])
    job_fails(admin, "deleteDomain", 431, f"Failed to delete domain "
              f"{domain_id(state, d2['id'])}, domain not found", id=d2["id"])
    admin.fails("deleteDomain", 431, "Unable to execute API command deletedomain due to invalid "
                "value. Invalid parameter id value=nope due to incorrect long value format, or "
                "entity does not exist or due to incorrect parameter annotation for the field in "
                "api cmd class.", id="nope")


def test_accounts_cannot_be_created_in_a_domain_being_deleted(admin, state):
    d1 = new_domain(admin, "d1")
    set_domain(state, d1["id"], state="Inactive")
    admin.fails("createAccount", 530, "The account cannot be created as domain d1 is being "
                "deleted", username="late", password="x", email="e", firstname="f",
                lastname="l", accounttype=0, domainid=d1["id"])
    admin.fails("createUser", 530, "The user cannot be created as domain d1 is being deleted",
                account="any", username="late", password="x", email="e", firstname="f",
                lastname="l", domainid=d1["id"])


def test_like_wildcards_in_domain_names_do_not_widen_a_subtree(admin, app):
    # "/a_b/" as a LIKE pattern would also match "/axb/": paths are compared literally.
    a_b = new_domain(admin, "a_b")
    axb = new_domain(admin, "axb")
    new_account(admin, "inside", domainid=a_b["id"])
    new_account(admin, "outside", domainid=axb["id"])
    da = client_for(app, admin, new_account(admin, "boss", domainid=a_b["id"],
                                            accounttype=2)["user"][0]["id"])
    assert [d["name"] for d in da.ok("listDomains", listall=True)["domain"]] == ["a_b"]
    assert [a["name"] for a in da.ok("listAccounts", listall=True)["account"]] == [
        "inside", "boss"]
    assert [u["username"] for u in da.ok("listUsers", listall=True)["user"]] == [
        "inside", "boss"]
    assert da.ok("listDomainChildren", id=a_b["id"], isrecursive=True) == {}

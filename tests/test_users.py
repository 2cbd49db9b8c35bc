"""createUser, listUsers, updateUser, enableUser, disableUser, lockUser, deleteUser,
registerUserKeys, getUserKeys, getUser."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from csapi.db import transaction
from csapi.db.models import Account, Domain, DomainDetail, Event, User
from tests.client import ApiClient
from tests.tenancy_helpers import (
    client_for,
    event_texts,
    events,
    job_fails,
    job_ok,
    login,
    new_account,
    new_domain,
    row,
    snapshot,
    wait_job,
)

USER_KEYS = ["id", "username", "firstname", "lastname", "email", "created", "state", "account",
             "accounttype", "usersource", "roleid", "roletype", "rolename", "domainid",
             "domain", "accountid", "iscallerchilddomain", "isdefault", "is2faenabled",
             "is2famandated", "apikeyaccess"]
USER_PARAMS = dict(password="pw-1", email="u@example.com", firstname="First", lastname="Last")


def system_user(state) -> tuple[str, str]:
    with transaction(state.sessions) as db:
        return db.get(User, 1).uuid, db.get(Account, 1).uuid


def set_user(st, uuid_: str, **values) -> None:
    with transaction(st.sessions) as db:
        db.execute(update(User).where(User.uuid == uuid_).values(**values))


def _usernames(body) -> list[str]:
    return [u["username"] for u in body.get("user", [])]


# --- createUser -----------------------------------------------------------------------------

def test_create_user(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    user = admin.ok("createUser", account="alice", domainid=d1["id"], username="alice2",
                    timezone="UTC", **USER_PARAMS)["user"]
    assert list(user) == USER_KEYS[:15] + ["timezone"] + USER_KEYS[15:]
    assert (user["username"], user["account"], user["accountid"], user["domain"],
            user["state"], user["accounttype"], user["usersource"]) == (
        "alice2", "alice", alice["id"], "d1", "enabled", 0, "native")
    assert user["iscallerchilddomain"] is True and user["apikeyaccess"] == "Inherit"
    login(app, "alice2", "pw-1", "/d1")
    assert event_texts(state, "USER.CREATE")[-1] == (
        "Completed", "INFO", "Successfully completed creating User. UserName: alice2, "
        "FirstName :First, LastName: Last")
    # A user may add users to its own account.
    alice_client = client_for(app, admin, alice["user"][0]["id"])
    third = alice_client.ok("createUser", account="alice", domainid=d1["id"],
                            username="alice3", **USER_PARAMS)["user"]
    assert third["iscallerchilddomain"] is False and "apikeyaccess" not in third
    listed = admin.ok("listAccounts", id=alice["id"])["account"][0]["user"]
    assert [u["username"] for u in listed] == ["alice", "alice2", "alice3"]


def test_create_user_refusals_write_nothing(admin, app, state):
    d1 = new_domain(admin, "d1")
    d2 = new_domain(admin, "d2")
    new_account(admin, "alice", domainid=d1["id"])
    new_account(admin, "off", domainid=d1["id"])
    job_ok(admin, "disableAccount", account="off", domainid=d1["id"], lock=False)
    da2 = client_for(app, admin, new_account(admin, "da2", domainid=d2["id"],
                                             accounttype=2)["user"][0]["id"])
    root = admin.ok("listDomains", name="ROOT")["domain"][0]["id"]
    d1_id = row(state, Domain, d1["id"]).id
    before = snapshot(state)
    admin.fails("createUser", 431, "Unable to find account ghost in domain d1 to create user",
                account="ghost", domainid=d1["id"], username="x", **USER_PARAMS)
    admin.fails("createUser", 431, "Unable to find account off in domain d1 to create user",
                account="off", domainid=d1["id"], username="x", **USER_PARAMS)
    admin.fails("createUser", 531, "Account: system is a system account, can't add a user to "
                "it", account="system", domainid=root, username="x", **USER_PARAMS)
    res = admin.fails("createUser", 530, f"The user ALICE already exists in domain {d1_id}",
                      account="alice", domainid=d1["id"], username="ALICE", **USER_PARAMS)
    assert res.body["cserrorcode"] == 4250
    da2.fails("createUser", 531, f"Account da2 does not have permission to operate within "
              f"domain id={d1['id']}", account="alice", domainid=d1["id"], username="x",
              **USER_PARAMS)
    admin.fails("createUser", 431, "Unable to execute API command createuser due to missing "
                "parameter account", username="x", **USER_PARAMS)
    assert snapshot(state) == before
    with transaction(state.sessions) as db:
        db.add(DomainDetail(domain_id=d1_id, name="user.allow.multiple.accounts",
                            value="true"))
    alice_uuid = admin.ok("listAccounts", listall=True, name="alice")["account"][0]["id"]
    admin.fails("createUser", 431, f"Username [alice] already exists in account [id="
                f"{alice_uuid},name=alice]", account="alice", domainid=d1["id"],
                username="alice", **USER_PARAMS)
    new_account(admin, "bob", domainid=d1["id"])
    twin = admin.ok("createUser", account="bob", domainid=d1["id"], username="alice",
                    **USER_PARAMS)["user"]
    assert twin["account"] == "bob"


# --- listUsers ------------------------------------------------------------------------------

def test_list_users(admin, app, state):
    d1 = new_domain(admin, "d1")
    sub = new_domain(admin, "sub", d1["id"])
    da = new_account(admin, "da1", domainid=d1["id"], accounttype=2)
    alice = new_account(admin, "alice", domainid=d1["id"])
    new_account(admin, "bob", domainid=sub["id"])
    new_account(admin, "carol")
    assert _usernames(admin.ok("listUsers")) == ["admin"]
    everyone = admin.ok("listUsers", listall=True)
    assert everyone["count"] == 5
    assert _usernames(everyone) == ["admin", "da1", "alice", "bob", "carol"]
    assert _usernames(admin.ok("listUsers", domainid=d1["id"])) == ["da1", "alice"]
    assert _usernames(admin.ok("listUsers", domainid=d1["id"], isrecursive=True)) == [
        "da1", "alice", "bob"]
    assert _usernames(admin.ok("listUsers", account="alice", domainid=d1["id"])) == ["alice"]
    assert _usernames(admin.ok("listUsers", listall=True, username="carol")) == ["carol"]
    assert _usernames(admin.ok("listUsers", listall=True, accounttype=2)) == ["da1"]
    assert _usernames(admin.ok("listUsers", listall=True, keyword="DOMAIN_ADMIN")) == ["da1"]
    assert _usernames(admin.ok("listUsers", listall=True, keyword="aro")) == ["carol"]
    assert _usernames(admin.ok("listUsers", id=alice["user"][0]["id"])) == ["alice"]
    system_uuid, _ = system_user(state)
    assert admin.ok("listUsers", id=system_uuid) == {}
    set_user(state, alice["user"][0]["id"], state="locked")
    assert _usernames(admin.ok("listUsers", listall=True, state="locked")) == ["alice"]
    da_client = client_for(app, admin, da["user"][0]["id"])
    assert _usernames(da_client.ok("listUsers")) == ["da1"]
    assert _usernames(da_client.ok("listUsers", listall=True)) == ["da1", "alice", "bob"]
    children = da_client.ok("listUsers", listall=True)["user"]
    assert [u["iscallerchilddomain"] for u in children] == [False, False, True]
    carol = admin.ok("listUsers", listall=True, username="carol")["user"][0]
    da_client.fails("listUsers", 531, "Account da1 does not have permission to operate within "
                    f"domain id={carol['domainid']}", domainid=carol["domainid"])
    # A user sees only himself, whatever it asks for.
    set_user(state, alice["user"][0]["id"], state="enabled")
    alice_client = client_for(app, admin, alice["user"][0]["id"])
    for params in ({}, {"listall": True}, {"domainid": d1["id"]},
                   {"id": alice["user"][0]["id"]}):
        listed = alice_client.ok("listUsers", **params)
        assert _usernames(listed) == ["alice"], params
    assert listed["user"][0]["apikey"]
    alice_client.fails("listUsers", 531, "Calling user is not authorized to see the user "
                       "requested by id", id=carol["id"])


# --- updateUser -----------------------------------------------------------------------------

def test_update_user_fields_and_keys(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    new_account(admin, "bob", domainid=d1["id"])
    uid = alice["user"][0]["id"]
    out = admin.ok("updateUser", id=uid, firstname="Al", lastname="Ice", email="a@b.c",
                   timezone="Asia/Tokyo", username="alice-renamed")["user"]
    assert (out["firstname"], out["lastname"], out["email"], out["timezone"],
            out["username"]) == ("Al", "Ice", "a@b.c", "Asia/Tokyo", "alice-renamed")
    kept = admin.ok("updateUser", id=uid, email="  ", timezone="")["user"]
    assert (kept["email"], kept["timezone"]) == ("a@b.c", "Asia/Tokyo")
    keyed = admin.ok("updateUser", id=uid, userapikey="my-api-key",
                     usersecretkey="my-secret")["user"]
    assert keyed["apikey"] == "my-api-key"
    mine = ApiClient(app.test_client(), "my-api-key", "my-secret")
    assert _usernames(mine.ok("listUsers")) == ["alice-renamed"]
    assert event_texts(state, "USER.UPDATE") == [
        ("Completed", "INFO", "Successfully completed Updating User")] * 3
    bob_uid = admin.ok("listUsers", listall=True, username="bob")["user"][0]["id"]
    d1_row = row(state, Domain, d1["id"])
    bob_account = admin.ok("listAccounts", listall=True, name="bob")["account"][0]["id"]
    before = snapshot(state)
    for params, text in (
        ({"userapikey": "only-key"}, "Please provide a userApiKey/userSecretKey pair"),
        ({"usersecretkey": "only-secret"}, "Please provide a userApiKey/userSecretKey pair"),
        ({"userapikey": "my-api-key", "usersecretkey": "s"},
         "The API key [my-api-key] already exists in the system. Please provide a unique key."),
        ({"firstname": " "}, "Firstname cannot be empty."),
        ({"lastname": ""}, "Lastname cannot be empty."),
        ({"username": ""}, "Username cannot be empty."),
        ({"username": "ALICE-RENAMED"},
         f"Username [ALICE-RENAMED] already exists in domain [id={d1['id']},name=d1] user "
         f"account [id={alice['id']},name=alice]"),
        ({"password": " "}, "Password cannot be empty or blank."),
        ({"apikeyaccess": "always"}, "ApiKeyAccess value can only be Enabled/Disabled/Inherit"),
    ):
        admin.fails("updateUser", 431, text, id=bob_uid, **params)
    system_uuid, _ = system_user(state)
    admin.fails("updateUser", 531, "user: system is a system account; update is not allowed.",
                id=system_uuid, firstname="x")
    assert snapshot(state) == before
    assert d1_row and bob_account


def test_update_user_password_rules(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    uid = alice["user"][0]["id"]
    client = client_for(app, admin, uid)
    before = snapshot(state)
    client.fails("updateUser", 431, "To set a new password the current password must be "
                 "provided.", id=uid, password="new-pw")
    client.fails("updateUser", 431, "Current password is incorrect.", id=uid,
                 password="new-pw", currentpassword="wrong")
    set_user(state, uid, source="ldap")
    admin.fails("updateUser", 431, "CloudStack does not support updating passwords for SAML "
                "or LDAP users. Please contact your cloud administrator for assistance.",
                id=uid, password="x")
    set_user(state, uid, source="native")
    assert snapshot(state) == before
    client.ok("updateUser", id=uid, password="new-pw", currentpassword="secret1")
    login(app, "alice", "new-pw", "/d1")
    # Admins (root and domain) need no current password.
    da = new_account(admin, "da1", domainid=d1["id"], accounttype=2)
    client_for(app, admin, da["user"][0]["id"]).ok("updateUser", id=uid, password="da-set")
    login(app, "alice", "da-set", "/d1")
    admin.ok("updateUser", id=uid, password="root-set")
    login(app, "alice", "root-set", "/d1")


def test_update_user_api_key_access(admin, app, state):
    alice = new_account(admin, "alice")
    uid = alice["user"][0]["id"]
    client = client_for(app, admin, uid)
    client.ok("updateUser", id=uid, apikeyaccess="Disabled")  # dropped for non-root callers
    assert row(state, User, uid).api_key_access is None
    out = admin.ok("updateUser", id=uid, apikeyaccess="disabled")["user"]
    assert out["apikeyaccess"] == "Disabled"
    assert client.call("listUsers").status == 401
    assert _usernames(admin.ok("listUsers", listall=True, apikeyaccess="Disabled")) == ["alice"]
    assert event_texts(state, "API.KEY.ACCESS.UPDATE") == [
        ("Completed", "INFO", "Api key access was changed for the User to DISABLED")]
    admin.ok("updateUser", id=uid, apikeyaccess="Enabled")
    assert client.call("listUsers").status == 200


# --- enableUser / disableUser / lockUser --------------------------------------------------

def test_disable_user_stops_keys_and_sessions_at_once(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    uid = alice["user"][0]["id"]
    keys = client_for(app, admin, uid)
    session, key = login(app, "alice", "secret1", "/d1")
    assert session.call("listUsers", sessionkey=key).status == 200
    body = admin.ok("disableUser", id=uid)
    job = wait_job(admin, body["jobid"])
    assert job["jobstatus"] == 1
    assert (job["jobinstancetype"], job["jobinstanceid"]) == ("User", uid)
    assert job["jobresult"]["user"]["state"] == "disabled"
    assert keys.call("listUsers").status == 401
    assert session.call("listUsers", sessionkey=key).status == 401
    assert ApiClient(app.test_client()).call("login", method="POST", username="alice",
                                             password="secret1", domain="/d1").status == 531
    assert event_texts(state, "USER.DISABLE") == [
        ("Scheduled", "INFO", f"disabling user: {uid}"),
        ("Started", "INFO", "Disabling User"),
        ("Completed", "INFO", "Successfully completed disabling User"),
    ]
    assert events(state, "USER.DISABLE")[0].account_id == row(state, Account, alice["id"]).id
    # enableUser brings the user back (and its account with it).
    job_ok(admin, "disableAccount", id=alice["id"], lock=False)
    set_user(state, uid, login_attempts=3)
    enabled = admin.ok("enableUser", id=uid)["user"]
    assert enabled["state"] == "enabled"
    assert row(state, Account, alice["id"]).state == "enabled"
    assert row(state, User, uid).login_attempts == 0
    assert keys.call("listUsers").status == 200
    assert event_texts(state, "USER.ENABLE") == [
        ("Completed", "INFO", "Successfully completed enabling User")]


def test_enable_and_disable_user_refusals(admin, state):
    alice = new_account(admin, "alice")
    uid = alice["user"][0]["id"]
    system_uuid, _ = system_user(state)
    before = snapshot(state)
    admin.fails("enableUser", 431, "User: system is a system user, enabling is not allowed",
                id=system_uuid)
    job_fails(admin, "disableUser", 431, "User: system is a system user, disabling is not "
              "allowed", id=system_uuid)
    assert row(state, User, system_uuid).state == "enabled"
    set_user(state, uid, removed=row(state, User, uid).created)
    user_id = row(state, User, uid).id
    admin.fails("enableUser", 431, f"Unable to find active user by id {user_id}", id=uid)
    job_fails(admin, "disableUser", 431, f"Unable to find active user by id {user_id}", id=uid)
    after = snapshot(state)
    assert {t: v for t, v in after.items() if t not in ("user", "event")} == {
        t: v for t, v in before.items() if t not in ("user", "event")}


def test_lock_user(admin, state):
    alice = new_account(admin, "alice")
    admin.ok("createUser", account="alice", domainid=alice["domainid"], username="alice2",
             **{**{"password": "p", "email": "e", "firstname": "f", "lastname": "l"}})
    users = {u["username"]: u["id"] for u in admin.ok("listUsers", account="alice",
                                                      domainid=alice["domainid"])["user"]}
    locked = admin.ok("lockUser", id=users["alice"])["user"]
    assert locked["state"] == "locked"
    assert row(state, Account, alice["id"]).state == "enabled"  # alice2 is still enabled
    assert admin.ok("lockUser", id=users["alice"])["user"]["state"] == "locked"
    admin.ok("lockUser", id=users["alice2"])
    assert row(state, Account, alice["id"]).state == "locked"  # the last one locks the account
    assert event_texts(state, "USER.LOCK") == [
        ("Completed", "INFO", "Successfully completed locking User")] * 3
    bob = new_account(admin, "bob")
    set_user(state, bob["user"][0]["id"], state="disabled")
    system_uuid, _ = system_user(state)
    before = snapshot(state)
    admin.fails("lockUser", 530, "Unable to lock user bob", id=bob["user"][0]["id"])
    admin.fails("lockUser", 531, "user: system is a system user, locking is not allowed",
                id=system_uuid)
    assert snapshot(state) == before
    set_user(state, bob["user"][0]["id"], removed=row(state, User, bob["user"][0]["id"]).created)
    admin.fails("lockUser", 431, "Unable to find user by id", id=bob["user"][0]["id"])


# --- deleteUser -----------------------------------------------------------------------------

def test_delete_user(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    second = admin.ok("createUser", account="alice", domainid=d1["id"], username="alice2",
                      password="p", email="e", firstname="f", lastname="l")["user"]
    keys = client_for(app, admin, second["id"])
    assert admin.ok("deleteUser", id=second["id"]) == {"success": True}
    assert row(state, User, second["id"]).removed is not None
    assert keys.call("listUsers").status == 401
    assert _usernames(admin.ok("listUsers", listall=True)) == ["admin", "alice"]
    assert event_texts(state, "USER.DELETE") == [
        ("Completed", "INFO", "Successfully completed deleting User")]
    admin_user = admin.ok("listUsers")["user"][0]
    alice_client = client_for(app, admin, alice["user"][0]["id"])
    before = snapshot(state)
    admin.fails("deleteUser", 431, "The specified user doesn't exist in the system",
                id=second["id"])
    admin.fails("deleteUser", 431, "The user is default and can't be (re)moved",
                id=admin_user["id"])
    alice_client.fails("deleteUser", 431, "The caller is requesting to delete itself. As a "
                       "security measure, ACS will not allow this operation. To delete user "
                       f"alice (ID: {alice['user'][0]['id']}, Domain: {d1['id']}), request to "
                       "another user with permission to execute the operation.",
                       id=alice["user"][0]["id"])
    assert snapshot(state) == before


# --- API keys -------------------------------------------------------------------------------

def test_register_and_get_user_keys(admin, app, state):
    alice = new_account(admin, "alice")
    uid = alice["user"][0]["id"]
    assert admin.ok("getUserKeys", id=uid) == {"userkeys": {}}
    first = admin.ok("registerUserKeys", id=uid)["userkeys"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", first["apikey"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", first["secretkey"])
    assert admin.ok("getUserKeys", id=uid)["userkeys"] == first
    stored = row(state, User, uid)
    assert stored.api_key == first["apikey"] and first["secretkey"] not in stored.secret_key
    old = ApiClient(app.test_client(), first["apikey"], first["secretkey"])
    assert old.call("listUsers").status == 200
    again = old.ok("registerUserKeys", id=uid)["userkeys"]  # a user renews its own keys
    assert again["apikey"] != first["apikey"] and again["secretkey"] != first["secretkey"]
    assert old.call("listUsers").status == 401
    fresh = ApiClient(app.test_client(), again["apikey"], again["secretkey"])
    assert fresh.ok("getUserKeys", id=uid)["userkeys"] == again
    register = [(e.type, e.description) for e in events(state, "REGISTER.USER.KEY")]
    assert register[-2:] == [("REGISTER.USER.KEY", "Successfully completed register for the "
                              "developer API keys")] * 2
    with transaction(state.sessions) as db:
        ev = db.scalars(select(Event).where(Event.type == "REGISTER.USER.KEY")
                        .order_by(Event.id.desc())).first()
        assert (ev.resource_type, ev.resource_id) == ("User", stored.id)


def test_key_commands_refusals(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    bob = new_account(admin, "bob", domainid=d1["id"])
    root_da = new_account(admin, "rootda", accounttype=2)
    alice_client = client_for(app, admin, alice["user"][0]["id"])
    rootda_client = client_for(app, admin, root_da["user"][0]["id"])
    admin_user = admin.ok("listUsers")["user"][0]
    system_uuid, _ = system_user(state)
    before = snapshot(state)
    admin.fails("registerUserKeys", 531, "user: system is system account, update is not "
                "allowed", id=system_uuid)
    alice_client.fails("registerUserKeys", 531, "Account alice does not have permission to "
                       "operate with resource account bob", id=bob["user"][0]["id"])
    alice_client.fails("getUserKeys", 531, "Account alice does not have permission to operate "
                       "with resource account bob", id=bob["user"][0]["id"])
    rootda_client.fails("getUserKeys", 531, "Caller Username rootda does not have access to "
                        "root admin keys", id=admin_user["id"])
    admin.fails("getUser", 431, "User with specified API key does not exist",
                userapikey="no-such-key")
    assert snapshot(state) == before
    bob_keys = admin.ok("registerUserKeys", id=bob["user"][0]["id"])["userkeys"]
    found = admin.ok("getUser", userapikey=bob_keys["apikey"])["user"]
    assert (found["username"], found["apikey"]) == ("bob", bob_keys["apikey"])
    alice_client.fails("getUser", 531, "Account alice does not have permission to operate with "
                       "resource account bob", userapikey=bob_keys["apikey"])
    set_user(state, alice["user"][0]["id"], removed=row(state, User, alice["user"][0]["id"]
                                                        ).created)
    admin.fails("registerUserKeys", 431, "unable to find user by id", id=alice["user"][0]["id"])
    admin.fails("getUserKeys", 431, "Unable to find user by id", id=alice["user"][0]["id"])

"""createAccount, listAccounts, updateAccount, enableAccount, disableAccount, lockAccount,
deleteAccount."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from csapi.db import transaction
from csapi.db.models import (
    Account,
    AccountDetail,
    Domain,
    DomainDetail,
    Event,
    ProjectAccount,
    Role,
    RolePermission,
    SSHKeyPair,
    User,
    Webhook,
)
from tests.factories import create_project
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

ACCOUNT_KEYS = [
    "id", "name", "accounttype", "roleid", "roletype", "rolename", "domainid", "domain",
    "domainpath",
    "vmlimit", "vmtotal", "vmavailable", "iplimit", "iptotal", "ipavailable",
    "volumelimit", "volumetotal", "volumeavailable", "snapshotlimit", "snapshottotal",
    "snapshotavailable", "templatelimit", "templatetotal", "templateavailable",
    "vmstopped", "vmrunning",
    "projectlimit", "projecttotal", "projectavailable", "networklimit", "networktotal",
    "networkavailable", "vpclimit", "vpctotal", "vpcavailable", "cpulimit", "cputotal",
    "cpuavailable", "memorylimit", "memorytotal", "memoryavailable",
    "primarystoragelimit", "primarystoragetotal", "primarystorageavailable",
    "secondarystoragelimit", "secondarystoragetotal", "secondarystorageavailable",
    "state", "iscleanuprequired", "created", "user", "isdefault", "apikeyaccess",
]
USER_KEYS = ["id", "username", "firstname", "lastname", "email", "created", "state", "account",
             "accounttype", "usersource", "roleid", "roletype", "rolename", "domainid",
             "domain", "accountid", "iscallerchilddomain", "isdefault", "is2faenabled",
             "is2famandated"]
ACCOUNT_PARAMS = dict(password="secret1", email="x@example.com", firstname="X",
                      lastname="Y")


def internal(state, model, uuid_: str) -> int:
    return row(state, model, uuid_).id


def same_except_keys(before, after) -> bool:
    """Equal, apart from the user rows (registerUserKeys writes keys) and its event."""
    return {t: v for t, v in before.items() if t not in ("user", "event")} == {
        t: v for t, v in after.items() if t not in ("user", "event")}


def same_except_events(before, after) -> bool:
    return {t: v for t, v in before.items() if t != "event"} == {
        t: v for t, v in after.items() if t != "event"}


# --- createAccount ------------------------------------------------------------------------

def test_create_account_answers_the_full_account(admin, app, state):
    d1 = new_domain(admin, "d1")
    account = new_account(admin, "alice", domainid=d1["id"], timezone="Europe/Paris",
                          networkdomain="alice.example")
    assert list(account) == ACCOUNT_KEYS[:-3] + ["user", "networkdomain", "isdefault",
                                                 "apikeyaccess"]
    assert (account["name"], account["accounttype"], account["roletype"],
            account["rolename"], account["domain"], account["domainpath"]) == (
        "alice", 0, "User", "User", "d1", "ROOT/d1")
    assert (account["state"], account["iscleanuprequired"], account["isdefault"]) == (
        "enabled", False, False)
    assert (account["vmlimit"], account["vmtotal"], account["vmavailable"]) == ("20", 0, "20")
    assert (account["projectlimit"], account["cpulimit"], account["memorylimit"],
            account["primarystoragelimit"]) == ("10", "40", "40960", "200")
    assert (account["secondarystoragetotal"], account["secondarystorageavailable"]) == (
        0.0, "400.0")
    assert account["apikeyaccess"] == "Inherit"
    [user] = account["user"]
    assert list(user) == USER_KEYS[:15] + ["timezone"] + USER_KEYS[15:]
    assert (user["username"], user["firstname"], user["usersource"], user["state"],
            user["timezone"], user["accountid"]) == (
        "alice", "Alice", "native", "enabled", "Europe/Paris", account["id"])
    assert "apikey" not in user and user["iscallerchilddomain"] is False
    stored = row(state, User, user["id"])
    assert stored.password.startswith("pbkdf2:") and "secret1" not in stored.password
    _, key = login(app, "alice", "secret1", "/d1")
    assert key
    d1_id = internal(state, Domain, d1["id"])
    creates = [(e.type, e.state, e.description, e.resource_type) for e in events(state)
               if e.type in ("ACCOUNT.CREATE", "USER.CREATE")]
    assert creates[-2:] == [
        ("ACCOUNT.CREATE", "Completed", "Successfully completed creating Account. Account Name: "
         f"alice, Domain Id:{d1_id}", "Account"),
        ("USER.CREATE", "Completed", "Successfully completed creating User. Account Name: "
         f"alice, Domain Id:{d1_id}", "User"),
    ]


def test_create_account_options(admin, state):
    forced_account, forced_user = str(uuid.uuid4()), str(uuid.uuid4())
    account = admin.ok("createAccount", username="bob", account="team-b", accounttype=2,
                       accountid=forced_account, userid=forced_user,
                       **{"accountdetails[0].plan": "gold", "accountdetails[0].tier": "1"},
                       **ACCOUNT_PARAMS)["account"]
    assert (account["id"], account["name"], account["user"][0]["id"]) == (
        forced_account, "team-b", forced_user)
    assert (account["accounttype"], account["roletype"], account["domainpath"]) == (
        2, "DomainAdmin", "ROOT")
    assert account["accountdetails"] == {"plan": "gold", "tier": "1"}
    # A role decides the type; accounttype is then ignored.
    role = admin.ok("listAccounts", id=account["id"])["account"][0]["roleid"]
    other = admin.ok("createAccount", username="carol", accounttype=0, roleid=role,
                     **ACCOUNT_PARAMS)["account"]
    assert (other["accounttype"], other["rolename"]) == (2, "Domain Admin")
    root2 = admin.ok("createAccount", username="root2", accounttype=1,
                     **ACCOUNT_PARAMS)["account"]
    assert (root2["roletype"], root2["vmlimit"], root2["vmavailable"]) == (
        "Admin", "Unlimited", "Unlimited")
    # The username may repeat in another account when the domain allows it.
    with transaction(state.sessions) as db:
        db.add(DomainDetail(domain_id=1, name="user.allow.multiple.accounts", value="true"))
    twin = admin.ok("createAccount", username="bob", account="bob-2", accounttype=0,
                    **ACCOUNT_PARAMS)["account"]
    assert twin["user"][0]["username"] == "bob"


def test_create_account_refusals_write_nothing(admin, app, state):
    d1 = new_domain(admin, "d1")
    d2 = new_domain(admin, "d2")
    new_account(admin, "alice", domainid=d1["id"])
    da = new_account(admin, "da1", domainid=d1["id"], accounttype=2)
    user = new_account(admin, "u1", domainid=d1["id"])
    da_client = client_for(app, admin, da["user"][0]["id"])
    user_client = client_for(app, admin, user["user"][0]["id"])
    before = snapshot(state)
    base = dict(ACCOUNT_PARAMS, domainid=d1["id"])
    res = admin.fails("createAccount", 431, "Neither account type and role ID are not provided",
                      username="n", **base)
    assert res.body["cserrorcode"] == 9999
    admin.fails("createAccount", 431, "Neither account type and role ID are not provided",
                username="n", accounttype=7, **base)
    admin.fails("createAccount", 431, "Invalid account type ADMIN given for an account in "
                "domain d1; unable to create user of admin role type in non-ROOT domain.",
                username="n", accounttype=1, **base)
    admin.fails("createAccount", 431, "The specified account: ALICE already exists",
                username="n", account="ALICE", accounttype=0, **base)
    admin.fails("createAccount", 431, "The user Alice already exists in domain d1",
                username="Alice", account="other", accounttype=0, **base)
    admin.fails("createAccount", 431, "Invalid network domain. Total length shouldn't exceed "
                "190 chars. Each domain label must be between 1 and 63 characters long, can "
                "contain ASCII letters 'a' through 'z', the digits '0' through '9', and the "
                "hyphen ('-'); can't start or end with \"-\"", username="n", accounttype=0,
                networkdomain="bad_label.example", **base)
    admin.fails("createAccount", 431, "The account cannot be created as domain d1 is not "
                "associated with any private Zone", username="n", accounttype=3, **base)
    admin.fails("createAccount", 431, "Unable to execute API command createaccount due to "
                "missing parameter email", username="n", accounttype=0, password="x",
                firstname="f", lastname="l")
    admin.fails("createAccount", 431, "Unable to execute API command createaccount due to "
                "invalid value zero for parameter accounttype", username="n",
                accounttype="zero", **base)
    da_client.fails("createAccount", 531, f"Account da1 does not have permission to operate "
                    f"within domain id={d2['id']}", username="n", accounttype=0,
                    **dict(base, domainid=d2["id"]))
    user_uuid = user["id"]
    user_client.fails("createAccount", 531, f"The calling account [u1, {user_uuid}] is not "
                      "allowed to perform this operation on users from other accounts of the "
                      "same role type within the domain", username="n", accounttype=0, **base)
    assert snapshot(state) == before
    forced = str(uuid.uuid4())
    root_da = new_account(admin, "rootda", accounttype=2)
    before = snapshot(state)
    client_for(app, admin, root_da["user"][0]["id"]).fails(
        "createAccount", 531, f"The calling account [rootda, {root_da['id']}] has a lower role "
        f"type than the user account [boss, {forced}]", username="boss", accountid=forced,
        accounttype=1, **dict(base, domainid=None))
    assert same_except_keys(before, snapshot(state))
    with transaction(state.sessions) as db:
        db.execute(update(Domain).where(Domain.uuid == d2["id"]).values(
            removed=db.scalar(select(Domain.created).where(Domain.uuid == d2["id"]))))
    admin.fails("createAccount", 431, f"The domain {internal(state, Domain, d2['id'])} does "
                "not exist; unable to create account", username="n", accounttype=0,
                **dict(base, domainid=d2["id"]))


def test_create_account_refuses_role_escalation(admin, app, state):
    d1 = new_domain(admin, "d1")
    with transaction(state.sessions) as db:
        role = Role(uuid=str(uuid.uuid4()), name="Narrow DA", role_type="DomainAdmin",
                    description="no listUsers", is_default=False, public_role=True,
                    state="ENABLED")
        db.add(role)
        db.flush()
        db.add(RolePermission(uuid=str(uuid.uuid4()), role_id=role.id, rule="listUsers",
                              permission="DENY", sort_order=0))
        role_uuid = role.uuid
    da = admin.ok("createAccount", username="da1", roleid=role_uuid, domainid=d1["id"],
                  **ACCOUNT_PARAMS)["account"]
    assert (da["accounttype"], da["rolename"]) == (2, "Narrow DA")
    client = client_for(app, admin, da["user"][0]["id"])
    before = snapshot(state)
    client.fails("createAccount", 531, "User of Account da1 and domain d1 can not create an "
                 "account with access to more privileges they have themself.",
                 username="u1", accounttype=0, domainid=d1["id"], **ACCOUNT_PARAMS)
    assert snapshot(state) == before
    # The same role is no escalation.
    clone = client.ok("createAccount", username="da2", roleid=role_uuid, domainid=d1["id"],
                      **ACCOUNT_PARAMS)["account"]
    assert clone["rolename"] == "Narrow DA"


# --- listAccounts -------------------------------------------------------------------------

def _names(body) -> list[str]:
    return [a["name"] for a in body.get("account", [])]


def test_list_accounts_filters(admin, state):
    d1 = new_domain(admin, "d1")
    sub = new_domain(admin, "sub", d1["id"])
    alice = new_account(admin, "alice", domainid=d1["id"])
    new_account(admin, "bob", domainid=sub["id"], accounttype=2)
    new_account(admin, "carol")
    assert _names(admin.ok("listAccounts")) == ["admin"]
    everything = admin.ok("listAccounts", listall=True)
    assert everything["count"] == 4 and _names(everything) == ["admin", "alice", "bob", "carol"]
    assert everything["account"][0]["vmlimit"] == "Unlimited"
    assert _names(admin.ok("listAccounts", domainid=d1["id"])) == ["alice"]
    assert _names(admin.ok("listAccounts", domainid=d1["id"], isrecursive=True)) == [
        "alice", "bob"]
    assert _names(admin.ok("listAccounts", listall=True, name="bob")) == ["bob"]
    assert _names(admin.ok("listAccounts", listall=True, accounttype=2)) == ["bob"]
    assert _names(admin.ok("listAccounts", listall=True, keyword="o")) == ["bob", "carol"]
    assert _names(admin.ok("listAccounts", id=alice["id"])) == ["alice"]
    assert _names(admin.ok("listAccounts", id=alice["id"], name="alice",
                           domainid=d1["id"])) == ["alice"]
    minimal = admin.ok("listAccounts", id=alice["id"], details="min")["account"][0]
    assert "vmlimit" not in minimal and minimal["user"][0]["username"] == "alice"
    assert minimal["apikeyaccess"] == "Inherit"  # the root admin's full view
    admin.fails("listAccounts", 431, "The details parameter contains a non permitted value. "
                "The allowed values are [all, resource, min]", details="MIN")
    with transaction(state.sessions) as db:
        system_uuid = db.get(Account, 1).uuid
    admin.fails("listAccounts", 431, "Unable to find account by id 1", id=system_uuid)
    admin.fails("listAccounts", 431, f"Unable to find account by id "
                f"{internal(state, Account, alice['id'])} in domain "
                f"{internal(state, Domain, sub['id'])}", id=alice["id"], domainid=sub["id"])


def test_list_accounts_by_state_and_cleanup(admin, state):
    alice = new_account(admin, "alice")
    new_account(admin, "bob")
    job_ok(admin, "disableAccount", id=alice["id"], lock=True)
    assert _names(admin.ok("listAccounts", listall=True, state="locked")) == ["alice"]
    assert _names(admin.ok("listAccounts", listall=True, state="LOCKED")) == ["alice"]
    assert _names(admin.ok("listAccounts", listall=True, keyword="lock")) == ["alice"]
    with transaction(state.sessions) as db:
        db.execute(update(Account).where(Account.uuid == alice["id"]).values(
            cleanup_needed=True))
    assert _names(admin.ok("listAccounts", listall=True, iscleanuprequired=True)) == ["alice"]
    assert _names(admin.ok("listAccounts", listall=True, iscleanuprequired=False)) == [
        "admin", "bob"]


def test_list_accounts_for_domain_admins_and_users(admin, app, state):
    d1 = new_domain(admin, "d1")
    sub = new_domain(admin, "sub", d1["id"])
    d2 = new_domain(admin, "d2")
    da = new_account(admin, "da1", domainid=d1["id"], accounttype=2)
    u1 = new_account(admin, "u1", domainid=d1["id"])
    new_account(admin, "u1b", domainid=d1["id"])
    new_account(admin, "us", domainid=sub["id"])
    u2 = new_account(admin, "u2", domainid=d2["id"])
    da_client = client_for(app, admin, da["user"][0]["id"])
    user = client_for(app, admin, u1["user"][0]["id"])
    assert _names(da_client.ok("listAccounts")) == ["da1"]
    assert _names(da_client.ok("listAccounts", listall=True)) == ["da1", "u1", "u1b", "us"]
    assert _names(da_client.ok("listAccounts", domainid=sub["id"])) == ["us"]
    da_client.fails("listAccounts", 531, "Account da1 does not have permission to operate "
                    "with resource account u2", id=u2["id"])
    da_client.fails("listAccounts", 531, "Account da1 does not have permission to operate "
                    f"within domain id={d2['id']}", domainid=d2["id"])
    for params in ({}, {"listall": True}, {"domainid": d1["id"]}, {"id": u1["id"]}):
        assert _names(user.ok("listAccounts", **params)) == ["u1"], params
    user.fails("listAccounts", 531, "Account u1 does not have permission to operate with "
               "resource account u1b", id=admin.ok("listAccounts", listall=True,
                                                   name="u1b")["account"][0]["id"])
    # With allow.user.view.all.domain.accounts a user sees its domain tree, still without
    # domain-admin accounts.
    with transaction(state.sessions) as db:
        db.add(DomainDetail(domain_id=internal(state, Domain, d1["id"]),
                            name="allow.user.view.all.domain.accounts", value="true"))
    assert _names(user.ok("listAccounts")) == ["u1", "u1b", "us"]


# --- updateAccount / enableAccount / lockAccount -----------------------------------------

def test_update_account(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    updated = admin.ok("updateAccount", id=alice["id"], newname="alicia",
                       networkdomain="alicia.example",
                       **{"accountdetails[0].plan": "gold"})["account"]
    assert (updated["name"], updated["networkdomain"], updated["accountdetails"]) == (
        "alicia", "alicia.example", {"plan": "gold"})
    again = admin.ok("updateAccount", account="alicia", domainid=d1["id"], networkdomain="",
                     **{"accountdetails[0].plan": "silver",
                        "accountdetails[0].seats": "3"})["account"]
    assert "networkdomain" not in again
    assert again["accountdetails"] == {"plan": "silver", "seats": "3"}
    with transaction(state.sessions) as db:
        assert len(db.scalars(select(AccountDetail)).all()) == 2
    promoted = admin.ok("createAccount", username="da0", accounttype=2, **ACCOUNT_PARAMS)
    da_role = promoted["account"]["roleid"]
    changed = admin.ok("updateAccount", id=alice["id"], roleid=da_role)["account"]
    assert (changed["accounttype"], changed["roletype"]) == (2, "DomainAdmin")
    assert event_texts(state, "ACCOUNT.UPDATE") == [
        ("Started", "INFO", "Updating account"),
        ("Completed", "INFO", "Successfully completed updating account"),
    ] * 3


def test_update_account_refusals_write_nothing(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    new_account(admin, "bob", domainid=d1["id"])
    da = new_account(admin, "da1", domainid=d1["id"], accounttype=2)
    da_client = client_for(app, admin, da["user"][0]["id"])
    with transaction(state.sessions) as db:
        system_uuid = db.get(Account, 1).uuid
        roles = {r.name: (r.id, r.uuid) for r in db.scalars(select(Role))}
    before = snapshot(state)
    admin.fails("updateAccount", 431, "Can not modify system account", id=system_uuid,
                newname="x")
    admin.fails("updateAccount", 431, "The new account name for account 'alice' within domain "
                "'d1' is empty string. Account will be not renamed.", id=alice["id"],
                newname="")
    admin.fails("updateAccount", 431, "The account with the proposed name 'BOB' exists in the "
                "domain 'd1' with existing account bob", id=alice["id"], newname="BOB")
    admin.fails("updateAccount", 431, "Invalid network domain or format. Total length "
                "shouldn't exceed 190 chars. Every domain part must be between 1 and 63 "
                "characters long, can contain ASCII letters 'a' through 'z', the digits '0' "
                "through '9', and the hyphen ('-'); can't start or end with \"-\"",
                id=alice["id"], networkdomain="-x")
    admin.fails("updateAccount", 431, "Unable to find account by accountId: null OR by name: "
                "ghost in domain d1", account="ghost", domainid=d1["id"], newname="x")
    admin.fails("updateAccount", 431, "Both accountName and domainId are required for finding "
                "active account in the system", account="alice", newname="x")
    admin.fails("updateAccount", 531, "Unable to update account role to Root Admin, as the "
                "user does not belong to the ROOT domain", id=alice["id"],
                roleid=roles["Root Admin"][1])
    da_client.fails("updateAccount", 431, f"Role with ID '{roles['Resource Admin'][0]}' is not "
                    "found or not available for the account 'alice' in the domain 'd1'.",
                    id=alice["id"], roleid=roles["Resource Admin"][1])
    da_client.fails("updateAccount", 531, "Account da1 does not have permission to operate "
                    "within domain id=" + admin.ok("listDomains", name="ROOT")["domain"][0]["id"],
                    account="admin", domainid=admin.ok("listDomains", name="ROOT")["domain"][0]
                    ["id"], newname="pwned")
    assert snapshot(state) == before


def test_api_key_access_is_set_by_the_root_admin_only(admin, app, state):
    alice = new_account(admin, "alice")
    client = client_for(app, admin, alice["user"][0]["id"])
    assert client.call("listAccounts").status == 200
    # A non-root caller's apikeyaccess is silently dropped.
    client.ok("updateAccount", id=alice["id"], apikeyaccess="Disabled")
    assert row(state, Account, alice["id"]).api_key_access is None
    admin.fails("updateAccount", 431, "ApiKeyAccess value can only be Enabled/Disabled/Inherit",
                id=alice["id"], apikeyaccess="sometimes")
    out = admin.ok("updateAccount", id=alice["id"], apikeyaccess="Disabled")["account"]
    assert out["apikeyaccess"] == "Disabled"
    assert client.call("listAccounts").status == 401
    assert _names(admin.ok("listAccounts", listall=True, apikeyaccess="disabled")) == ["alice"]
    assert event_texts(state, "API.KEY.ACCESS.UPDATE") == [
        ("Completed", "INFO", "Api key access was changed for the Account to DISABLED")]
    admin.ok("updateAccount", id=alice["id"], apikeyaccess="Inherit")
    assert client.call("listAccounts").status == 200


def test_enable_and_lock_account(admin, state):
    alice = new_account(admin, "alice")
    with transaction(state.sessions) as db:
        db.execute(update(Account).where(Account.uuid == alice["id"]).values(
            state="disabled", cleanup_needed=True))
        system_uuid = db.get(Account, 1).uuid
    enabled = admin.ok("enableAccount", id=alice["id"])["account"]
    assert (enabled["state"], enabled["iscleanuprequired"]) == ("enabled", False)
    assert admin.ok("enableAccount", account="alice", domainid=alice["domainid"])[
        "account"]["state"] == "enabled"
    assert event_texts(state, "ACCOUNT.ENABLE")[:2] == [
        ("Started", "INFO", "Enabling account"),
        ("Completed", "INFO", "Successfully completed enabling account"),
    ]
    before = snapshot(state)
    admin.fails("enableAccount", 531, "Account: system is a system account, enable is not "
                "allowed", id=system_uuid)
    admin.fails("enableAccount", 431, "Unable to find account by accountId: null OR by name: "
                "ghost in domain ROOT", account="ghost", domainid=alice["domainid"])
    res = admin.fails("lockAccount", 530, "LockAccount does not lock Accounts. Its "
                      "implementation is disabled. Use DisableAccount instead.",
                      account="alice", domainid=alice["domainid"])
    assert res.body["cserrorcode"] == 9999
    assert snapshot(state) == before


# --- disableAccount -----------------------------------------------------------------------

def test_disable_account_stops_its_keys_and_sessions_at_once(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    keys = client_for(app, admin, alice["user"][0]["id"])
    session, key = login(app, "alice", "secret1", "/d1")
    assert keys.call("listAccounts").status == 200
    assert session.call("listAccounts", sessionkey=key).status == 200
    body = admin.ok("disableAccount", account="alice", domainid=d1["id"], lock=False)
    job = wait_job(admin, body["jobid"])
    assert job["jobstatus"] == 1 and job["jobinstancetype"] == "Account"
    assert job["jobinstanceid"] == alice["id"]
    result = job["jobresult"]["account"]
    assert (result["name"], result["state"]) == ("alice", "disabled")
    assert result["created"].endswith("+0000") and "T" in result["created"]
    assert keys.call("listAccounts").status == 401
    assert session.call("listAccounts", sessionkey=key).status == 401
    d1_id = internal(state, Domain, d1["id"])
    assert event_texts(state, "ACCOUNT.DISABLE") == [
        ("Scheduled", "INFO", f"Disabling Account: alice in domain: {d1['id']}"),
        ("Started", "INFO", f"Disabling account. Account Name: alice, Domain Id:{d1_id}"),
        ("Completed", "INFO", "Successfully completed disabling account. Account Name: alice, "
         f"Domain Id:{d1_id}"),
    ]
    scheduled = events(state, "ACCOUNT.DISABLE")[0]
    assert scheduled.account_id == internal(state, Account, alice["id"])  # the entity owner
    admin.ok("enableAccount", id=alice["id"])
    assert keys.call("listAccounts").status == 200


def test_lock_account_and_its_refusals(admin, state):
    alice = new_account(admin, "alice")
    alice_id = internal(state, Account, alice["id"])
    locked = job_ok(admin, "disableAccount", id=alice["id"], lock=True)["account"]
    assert locked["state"] == "locked"
    assert event_texts(state, "ACCOUNT.DISABLE")[1:] == [
        ("Started", "INFO", "Locking account. Account Name: null, Domain Id:null"),
        ("Completed", "INFO", "Successfully completed locking account. Account Name: null, "
         "Domain Id:null"),
    ]
    job_ok(admin, "disableAccount", id=alice["id"], lock=True)  # already locked: no-op
    job_ok(admin, "disableAccount", id=alice["id"], lock=False)
    job_fails(admin, "disableAccount", 530, f"Unable to lock account alice by accountId: "
              f"{alice_id} OR by name: null in domain null", id=alice["id"], lock=True)
    assert row(state, Account, alice["id"]).state == "disabled"
    with transaction(state.sessions) as db:
        system_uuid = db.get(Account, 1).uuid
    job_fails(admin, "disableAccount", 531, "Account: system is a system account, disable is "
              "not allowed", id=system_uuid, lock=False)
    job_fails(admin, "disableAccount", 530, "Unable to update account admin by accountId: 2 OR "
              "by name: null in domain null", id=admin.ok("listAccounts")["account"][0]["id"],
              lock=False)
    job_fails(admin, "disableAccount", 431, "Unable to find active account by accountId: null "
              "OR by name: ghost in domain 1", account="ghost", domainid=alice["domainid"],
              lock=True)
    admin.fails("disableAccount", 431, "Both accountName and domainId are required for finding "
                "active account in the system", account="alice", lock=True)
    admin.fails("disableAccount", 431, "Unable to execute API command disableaccount due to "
                "missing parameter lock", id=alice["id"])
    assert row(state, Account, admin.ok("listAccounts")["account"][0]["id"]).state == "enabled"


# --- deleteAccount ------------------------------------------------------------------------

def test_delete_account_removes_it_and_what_it_owns(admin, app, state):
    d1 = new_domain(admin, "d1")
    alice = new_account(admin, "alice", domainid=d1["id"])
    other = new_account(admin, "other")
    admin.ok("createUser", account="alice", domainid=d1["id"], username="alice2",
             **ACCOUNT_PARAMS)
    keys = client_for(app, admin, alice["user"][0]["id"])
    alice_id = internal(state, Account, alice["id"])
    other_id = internal(state, Account, other["id"])
    _, _, project_account = create_project(state, "p1", 1, other_id, members=(alice_id,))
    with transaction(state.sessions) as db:
        created = db.get(Account, alice_id).created
        for owner in (alice_id, other_id):
            db.add(Webhook(uuid=str(uuid.uuid4()), name=f"h{owner}", state="Enabled",
                           domain_id=1, account_id=owner, payload_url="http://127.0.0.1/",
                           scope="Local", created=created))
        db.add(SSHKeyPair(uuid=str(uuid.uuid4()), account_id=alice_id,
                          domain_id=db.get(Account, alice_id).domain_id,
                          keypair_name="k", fingerprint="f", public_key="ssh-rsa A",
                          created=created))
    body = admin.ok("deleteAccount", id=alice["id"])
    job = wait_job(admin, body["jobid"])
    assert job["jobresult"] == {"success": True}
    assert (job["jobinstancetype"], job["jobinstanceid"]) == ("Account", alice["id"])
    with transaction(state.sessions) as db:
        account = db.get(Account, alice_id)
        assert account.removed is not None and account.state == "removed"
        users = db.scalars(select(User).where(User.account_id == alice_id)).all()
        assert len(users) == 2 and all(u.removed is not None for u in users)
        hooks = {h.account_id: h.removed for h in db.scalars(select(Webhook))}
        assert hooks[alice_id] is not None and hooks[other_id] is None
        assert db.scalars(select(SSHKeyPair)).all() == []
        members = db.scalars(select(ProjectAccount.account_id).where(
            ProjectAccount.project_account_id == project_account)).all()
        assert members == [other_id]
    assert keys.call("listAccounts").status == 401
    assert _names(admin.ok("listAccounts", listall=True)) == ["admin", "other"]
    assert event_texts(state, "ACCOUNT.DELETE") == [
        ("Scheduled", "INFO", f"Deleting user Account alice (ID: {alice['id']}) and all "
         "corresponding users"),
        ("Started", "INFO", "Deleting account"),
        ("Completed", "INFO", "Successfully completed deleting account"),
    ]
    scheduled = events(state, "ACCOUNT.DELETE")[0]
    assert scheduled.account_id == alice_id
    # Deleting it again succeeds quietly.
    job_ok(admin, "deleteAccount", id=alice["id"])
    assert event_texts(state, "ACCOUNT.DELETE")[3] == (
        "Scheduled", "INFO", "Cannot delete Account - it does not exist in the system")


def test_delete_account_refusals(admin, app, state):
    d1 = new_domain(admin, "d1")
    d2 = new_domain(admin, "d2")
    owner = new_account(admin, "owner", domainid=d1["id"])
    u2 = new_account(admin, "u2", domainid=d2["id"])
    da = new_account(admin, "da1", domainid=d1["id"], accounttype=2)
    root2 = new_account(admin, "root2", accounttype=1)
    da_client = client_for(app, admin, da["user"][0]["id"])
    root2_client = client_for(app, admin, root2["user"][0]["id"])
    owner_id = internal(state, Account, owner["id"])
    project_id, _, project_account = create_project(state, "p1", internal(
        state, Domain, d1["id"]), owner_id)
    admin_uuid = admin.ok("listAccounts")["account"][0]["id"]
    with transaction(state.sessions) as db:
        project_account_uuid = db.get(Account, project_account).uuid
    before = snapshot(state)
    job_fails(admin, "deleteAccount", 431, "Deletion of your own account is not allowed. To "
              f"delete account admin (ID: {admin_uuid}, Domain: "
              f"{admin.ok('listDomains')['domain'][0]['id']}), request to another user with "
              "permissions to perform the operation.", id=admin_uuid)
    job_fails(root2_client, "deleteAccount", 431, "The account is default and can't be "
              "removed", id=admin_uuid)
    job_fails(admin, "deleteAccount", 431, f"Unable to delete account [{owner_id}], because it "
              f"manages the following project(s): [{project_id}]. Please, remove the account "
              "from these projects or demote it to a regular project role first.",
              id=owner["id"])
    job_fails(admin, "deleteAccount", 431, "The specified account does not exist in the "
              "system", id=project_account_uuid)
    # The @ACL check on `id` runs when the command is submitted.
    da_client.fails("deleteAccount", 531, "Account da1 does not have permission to operate "
                    "with resource account u2", id=u2["id"])
    assert same_except_events(before, snapshot(state))
    with transaction(state.sessions) as db:
        assert db.scalars(select(Event).where(Event.type == "ACCOUNT.DELETE",
                                              Event.level == "ERROR")).all()
    # Inside its domain the domain admin may delete the owner's project-free neighbour.
    neighbour = new_account(admin, "neighbour", domainid=d1["id"])
    job_ok(da_client, "deleteAccount", id=neighbour["id"])
    assert row(state, Account, neighbour["id"]).removed is not None

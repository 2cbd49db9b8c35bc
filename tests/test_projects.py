"""Projects and project members: the async lifecycle, ownership, visibility and events."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from csapi.db import transaction
from csapi.db.models import (
    Account,
    AsyncJob,
    Configuration,
    Event,
    Project,
    ProjectAccount,
    SSHKeyPair,
    Webhook,
)
from csapi.seed import now
from tests.client import ApiClient
from tests.factories import Tenant, create_domain, create_project, create_tenant

PROJECT_HEAD = ["id", "name", "displaytext", "domainid", "domain", "owner",
                "projectaccountname", "state", "tags", "networklimit", "networktotal",
                "networkavailable"]
MEMBER_KEYS = ["projectid", "project", "accountid", "account", "accounttype", "role",
               "domainid", "domain", "domainpath", "user"]


def wait(client: ApiClient, jobid: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.ok("queryAsyncJobResult", jobid=jobid)
        if body["jobstatus"] != 0:
            return body
        assert time.monotonic() < deadline, f"job {jobid} still pending"
        time.sleep(0.02)


def run(client: ApiClient, command: str, **params: Any) -> dict[str, Any]:
    """Submit an async command and insist that its job succeeds; returns the job result."""
    job = wait(client, client.ok(command, **params)["jobid"])
    assert job["jobstatus"] == 1, job
    return job["jobresult"]


def run_fails(client: ApiClient, command: str, code: int, text: str,
              **params: Any) -> dict[str, Any]:
    job = wait(client, client.ok(command, **params)["jobid"])
    assert job["jobstatus"] == 2, job
    assert job["jobresultcode"] == code
    assert job["jobresult"] == {"errorcode": code, "errortext": text}
    return job


def table_counts(state: Any) -> dict[str, int]:
    with transaction(state.sessions) as db:
        return {m.__tablename__: db.scalar(select(func.count()).select_from(m))
                for m in (Account, Project, ProjectAccount)}


def project_events(state: Any, event_type: str) -> list[tuple[str, str, int]]:
    with transaction(state.sessions) as db:
        return [(e.state, e.description, e.account_id) for e in db.scalars(
            select(Event).where(Event.type == event_type).order_by(Event.id))]


@pytest.fixture
def alice(app, state) -> Tenant:  # type: ignore[no-untyped-def]
    return create_tenant(app, state, "alice")


@pytest.fixture
def bob(app, state) -> Tenant:  # type: ignore[no-untyped-def]
    return create_tenant(app, state, "bob")


@pytest.fixture
def project(alice) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return run(alice.client, "createProject", name="p1", displaytext="Project one")["project"]


def add(client: ApiClient, project: dict[str, Any], account: str, **params: Any) -> None:
    assert run(client, "addAccountToProject", projectid=project["id"], account=account,
               **params) == {"success": True}


# --- createProject ----------------------------------------------------------------------------

def test_create_project(alice, state) -> None:
    answer = alice.client.ok("createProject", name="p1", displaytext="Project one")
    assert list(answer) == ["id", "jobid"]
    job = wait(alice.client, answer["jobid"])
    assert job["jobstatus"] == 1 and job["jobinstancetype"] == "Project"
    assert job["jobinstanceid"] == answer["id"]
    project = job["jobresult"]["project"]
    assert list(project)[:len(PROJECT_HEAD)] == PROJECT_HEAD
    assert list(project)[-3:] == ["vmstopped", "vmrunning", "created"]
    assert project["id"] == answer["id"] and project["name"] == "p1"
    assert project["displaytext"] == "Project one" and project["state"] == "Active"
    assert project["owner"] == [{"account": "alice"}] and project["tags"] == []
    assert project["domain"] == "ROOT" and project["domainid"] == alice.domain_uuid
    assert project["projectaccountname"] == "PrjAcct-p1-1"
    assert (project["vmlimit"], project["vmtotal"], project["vmavailable"]) == ("20", 0, "20")
    assert project["secondarystoragetotal"] == 0.0
    with transaction(state.sessions) as db:
        row = db.scalar(select(Project).where(Project.uuid == answer["id"]))
        hidden = db.get(Account, row.project_account_id)
        assert (hidden.account_name, hidden.type, hidden.role_id) == ("PrjAcct-p1-1", 5, None)
        [member] = db.scalars(select(ProjectAccount).where(ProjectAccount.project_id == row.id))
        assert (member.account_id, member.account_role, member.user_id) == (
            alice.account_id, "Admin", None)
        project_id = row.id
    assert project_events(state, "PROJECT.CREATE") == [
        ("Created", f"Successfully created entity for creating project. Project id={project_id}",
         alice.account_id),
        ("Scheduled", "creating project", alice.account_id),
        ("Started", "Creating project", alice.account_id),
        ("Completed", "Successfully completed creating project. Project "
         f"id={project_id}", alice.account_id),
    ]


def test_display_text_defaults_to_the_name(alice) -> None:
    assert run(alice.client, "createProject", name="plain")["project"]["displaytext"] == "plain"


def test_project_accounts_never_show_in_list_accounts(admin, alice, project) -> None:
    names = [a["name"] for a in admin.ok("listAccounts", listall=True)["account"]]
    assert names == ["admin", "alice"]
    assert admin.ok("listAccounts", listall=True, name="PrjAcct-p1-1") == {}


def test_create_project_rejections_write_nothing(admin, alice, state, project) -> None:
    before = table_counts(state)
    alice.client.fails("createProject", 431, "Project with name p1 already exists in domain "
                       "id=1", name="p1")
    alice.client.fails("createProject", 431, "Account name and domain id must be specified "
                       "together", name="p2", account="alice")
    alice.client.fails("createProject", 431, "Domain ID and account ID must be provided with "
                       "User ID", name="p2", userid=alice.user_uuid)
    with transaction(state.sessions) as db:
        db.get(Configuration, "allow.user.create.projects").value = "false"
    alice.client.fails("createProject", 531, "Regular user is not permitted to create a "
                       "project", name="p2")
    assert table_counts(state) == before
    with transaction(state.sessions) as db:
        assert db.scalar(select(func.count()).select_from(Event).where(
            Event.type == "PROJECT.CREATE")) == 4  # only the fixture's project


def test_admin_creates_a_project_for_an_account(admin, alice) -> None:
    project = run(admin, "createProject", name="ops", account="alice",
                  domainid=alice.domain_uuid)["project"]
    assert project["owner"] == [{"account": "alice"}]
    assert alice.client.ok("listProjects")["project"][0]["id"] == project["id"]


def test_user_owner_of_a_project(admin, alice) -> None:
    # CloudStack insists on the account name with domainid, even next to accountid.
    admin.fails("createProject", 431, "Account name and domain id must be specified together",
                name="u", accountid=alice.account_uuid, domainid=alice.domain_uuid,
                userid=alice.user_uuid)
    project = run(admin, "createProject", name="u", account="alice",
                  accountid=alice.account_uuid, domainid=alice.domain_uuid,
                  userid=alice.user_uuid)["project"]
    assert project["owner"] == [{"account": "alice", "user": "alice",
                                 "userid": alice.user_uuid}]
    admin.fails("createProject", 431, "User doesn't belong to the specified account or domain",
                name="v", account="alice", accountid=alice.account_uuid,
                domainid=alice.domain_uuid,
                userid=admin.ok("listUsers", username="admin")["user"][0]["id"])


# --- listProjects -----------------------------------------------------------------------------

def test_list_projects_visibility(admin, app, state, alice, bob, project) -> None:
    assert [p["id"] for p in alice.client.ok("listProjects")["project"]] == [project["id"]]
    assert bob.client.ok("listProjects") == {}
    assert bob.client.ok("listProjects", listall=True) == {}
    assert bob.client.ok("listProjects", id=project["id"]) == {}
    add(alice.client, project, "bob")
    assert bob.client.ok("listProjects")["count"] == 1
    # Admins see only their own memberships unless they ask for everything.
    assert admin.ok("listProjects") == {}
    assert admin.ok("listProjects", listall=True)["count"] == 1
    assert admin.ok("listProjects", domainid=alice.domain_uuid)["count"] == 1
    assert admin.ok("listProjects", domainid=alice.domain_uuid, account="bob")["count"] == 1
    bob.client.fails("listProjects", 531, "Can't list account alice projects; unauthorized",
                     account="alice")
    admin.fails("listProjects", 431, "could not find account alice because domain is not "
                "specified", account="alice")
    admin.fails("listProjects", 431, "Unable to find account nobody in domain 1",
                account="nobody", domainid=alice.domain_uuid)


def test_list_projects_filters_and_order(alice, project) -> None:
    second = run(alice.client, "createProject", name="p2", displaytext="Second")["project"]
    body = alice.client.ok("listProjects")
    assert [p["name"] for p in body["project"]] == ["p2", "p1"]  # newest first
    assert alice.client.ok("listProjects", name="p2")["project"][0]["id"] == second["id"]
    assert alice.client.ok("listProjects", displaytext="Project one")["count"] == 1
    assert alice.client.ok("listProjects", keyword="Second")["count"] == 1
    assert alice.client.ok("listProjects", state="Active")["count"] == 2
    assert alice.client.ok("listProjects", state="Suspended") == {}


def test_domain_admins_see_projects_of_their_subtree(app, state, alice, project) -> None:
    dept_id, dept_uuid = create_domain(state, "dept")
    dadmin = create_tenant(app, state, "dadmin", domain_id=dept_id, account_type=2)
    carol = create_tenant(app, state, "carol", domain_id=dept_id)
    inner = run(carol.client, "createProject", name="inner")["project"]
    assert inner["projectaccountname"] == f"PrjAcct-inner-{dept_id}"
    assert [p["id"] for p in dadmin.client.ok("listProjects", listall=True)["project"]] == [
        inner["id"]]
    dadmin.client.fails("listProjects", 531, "Account dadmin does not have permission to "
                        f"operate within domain id={alice.domain_uuid}",
                        domainid=alice.domain_uuid)
    # ... and may manage them without being members.
    assert run(dadmin.client, "updateProject", id=inner["id"],
               displaytext="managed")["project"]["displaytext"] == "managed"
    run_fails(dadmin.client, "updateProject", 531, "Account dadmin does not have permission "
              f"to operate within domain id={alice.domain_uuid}", id=project["id"],
              displaytext="nope")


# --- updateProject ----------------------------------------------------------------------------

def test_update_project(alice, bob, state, project) -> None:
    updated = run(alice.client, "updateProject", id=project["id"], displaytext="renamed",
                  name="p1b")["project"]
    assert (updated["name"], updated["displaytext"]) == ("p1b", "renamed")
    with transaction(state.sessions) as db:
        project_id = db.scalar(select(Project.id).where(Project.uuid == project["id"]))
    assert project_events(state, "PROJECT.UPDATE") == [
        ("Scheduled", f"Updating project: {project_id}", alice.account_id),
        ("Started", f"Updating project. Project id: {project_id}", alice.account_id),
        ("Completed", f"Successfully completed updating project. Project id: {project_id}",
         alice.account_id),
    ]
    add(alice.client, project, "bob")
    run_fails(bob.client, "updateProject", 531, "Account bob does not have permission to "
              "operate with resource account PrjAcct-p1-1", id=project["id"],
              displaytext="by bob")
    assert alice.client.ok("listProjects")["project"][0]["displaytext"] == "renamed"


def test_swap_project_owner(alice, bob, project) -> None:
    run_fails(alice.client, "updateProject", 431, "Account bob doesn't belong to the project. "
              "Add it to the project first and then change the project's ownership",
              id=project["id"], account="bob")
    run_fails(alice.client, "updateProject", 431, "Unable to find account name=nobody in "
              "domain id=1", id=project["id"], account="nobody")
    add(alice.client, project, "bob")
    result = run(alice.client, "updateProject", id=project["id"], account="bob")["project"]
    assert result["owner"] == [{"account": "bob"}]
    roles = {m["account"]: m["role"] for m in bob.client.ok(
        "listProjectAccounts", projectid=project["id"])["projectaccount"]}
    assert roles == {"alice": "Regular", "bob": "Admin"}


def test_promote_and_demote_without_swapping(alice, bob, project) -> None:
    add(alice.client, project, "bob")
    run_fails(alice.client, "updateProject", 431, "Cannot demote the only admin of the project",
              id=project["id"], account="alice", swapowner=False, roletype="Regular")
    owners = run(alice.client, "updateProject", id=project["id"], account="bob",
                 swapowner=False, roletype="admin")["project"]["owner"]
    assert owners == [{"account": "alice"}, {"account": "bob"}]
    owners = run(alice.client, "updateProject", id=project["id"], account="alice",
                 swapowner=False, roletype="Regular")["project"]["owner"]
    assert owners == [{"account": "bob"}]
    run_fails(bob.client, "updateProject", 431, "Only Admin or Regular project role types are "
              "valid", id=project["id"], account="alice", swapowner=False, roletype="Boss")
    run_fails(bob.client, "updateProject", 431, "Account name and user ID are mutually "
              "exclusive. Provide either account nameto update account or user ID to update "
              "the user of the project", id=project["id"], account="alice",
              userid=alice.user_uuid)


# --- members ----------------------------------------------------------------------------------

def test_add_and_list_project_accounts(alice, bob, state, project) -> None:
    add(alice.client, project, "bob")
    add(alice.client, project, "bob")  # already a member: silent success
    body = alice.client.ok("listProjectAccounts", projectid=project["id"])
    assert body["count"] == 2
    newest, owner = body["projectaccount"]
    assert list(newest) == MEMBER_KEYS
    assert (newest["account"], newest["role"], newest["accounttype"]) == ("bob", "Regular", 0)
    assert newest["projectid"] == project["id"] and newest["project"] == "p1"
    assert newest["accountid"] == bob.account_uuid and newest["domainpath"] == "ROOT"
    assert [u["username"] for u in newest["user"]] == ["bob"]
    assert (owner["account"], owner["role"]) == ("alice", "Admin")
    assert alice.client.ok("listProjectAccounts", projectid=project["id"],
                           role="Admin")["projectaccount"][0]["account"] == "alice"
    assert alice.client.ok("listProjectAccounts", projectid=project["id"],
                           account="bob")["count"] == 1
    with transaction(state.sessions) as db:
        hidden = db.scalar(select(Project.project_account_id).where(
            Project.uuid == project["id"]))
        project_id = db.scalar(select(Project.id).where(Project.uuid == project["id"]))
        events = [(e.state, e.description, e.account_id, e.resource_type) for e in db.scalars(
            select(Event).where(Event.type == "PROJECT.ACCOUNT.ADD").order_by(Event.id))]
    # The manager's Completed event belongs to the project (CallContext.setProject).
    details = f"Project id: {project_id}; accountName bob"
    assert events[:3] == [
        ("Scheduled", f"Adding account bob to project: {project_id}", alice.account_id,
         "Project"),
        ("Started", f"Adding account to project. {details}", alice.account_id, "Project"),
        ("Completed", f"Successfully completed adding account to project. {details}", hidden,
         "Project"),
    ]


def test_add_account_rejections(app, state, alice, bob, project) -> None:
    alice.client.fails("addAccountToProject", 431, "Unable to execute API command "
                       "addaccounttoproject due to missing parameter projectid", account="bob")
    run_fails(alice.client, "addAccountToProject", 431, "Either accountName or email is "
              "required", projectid=project["id"])
    run_fails(alice.client, "addAccountToProject", 431, "Unable to find account name=nobody in "
              "specified domain id", projectid=project["id"], account="nobody")
    run_fails(alice.client, "addAccountToProject", 431, "Account information is required for "
              "assigning account to the project", projectid=project["id"],
              email="someone@example.com")
    add(alice.client, project, "bob")
    carol = create_tenant(app, state, "carol")
    run_fails(bob.client, "addAccountToProject", 531, "Account bob does not have permission to "
              "operate with resource account PrjAcct-p1-1", projectid=project["id"],
              account="carol")
    assert [m["account"] for m in alice.client.ok(
        "listProjectAccounts", projectid=project["id"])["projectaccount"]] == ["bob", "alice"]
    assert carol.client.ok("listProjects") == {}


def test_admin_role_on_add(alice, bob, project) -> None:
    add(alice.client, project, "bob", roletype="Admin")
    owners = alice.client.ok("listProjects")["project"][0]["owner"]
    assert owners == [{"account": "alice"}, {"account": "bob"}]


def test_remove_account_from_project(alice, bob, state, project) -> None:
    run_fails(alice.client, "deleteAccountFromProject", 431, "Account bob is not assigned to "
              "the project with specified id", projectid=project["id"], account="bob")
    run_fails(alice.client, "deleteAccountFromProject", 431, "Unable to delete account alice "
              "from the project with specified id as the account is the owner of the project",
              projectid=project["id"], account="alice")
    run_fails(alice.client, "deleteAccountFromProject", 431, "Unable to find account "
              "name=ghost in domain id=1", projectid=project["id"], account="ghost")
    add(alice.client, project, "bob")
    run_fails(bob.client, "deleteAccountFromProject", 531, "Account bob does not have "
              "permission to operate with resource account PrjAcct-p1-1",
              projectid=project["id"], account="alice")
    assert run(alice.client, "deleteAccountFromProject", projectid=project["id"],
               account="bob") == {"success": True}
    assert bob.client.ok("listProjects") == {}
    [(_, description, _)] = [e for e in project_events(state, "PROJECT.ACCOUNT.REMOVE")
                             if e[0] == "Completed" and e[1].startswith("Successfully")]
    assert description.startswith("Successfully completed removing account from project. "
                                  "Project id: ")
    assert description.endswith("; accountName bob")
    assert project_events(state, "PROJECT.ACCOUNT.REMOVE")[0][1].startswith(
        "Removing account bob from project: ")


def test_list_project_accounts_is_for_members(admin, alice, bob, project) -> None:
    res = bob.client.fails("listProjectAccounts", 531, projectid=project["id"])
    assert res.body["errortext"].startswith("Account bob is not authorized to list users of "
                                            "the project id=")
    assert admin.ok("listProjectAccounts", projectid=project["id"])["count"] == 1


# --- deleteProject ----------------------------------------------------------------------------

def add_webhook(state: Any, account_id: int) -> None:
    with transaction(state.sessions) as db:
        db.add(Webhook(uuid=str(uuid.uuid4()), name="hook", state="Enabled", domain_id=1,
                       account_id=account_id, payload_url="http://127.0.0.1:9/hook",
                       scope="Local", created=now()))


def test_delete_project_refuses_while_webhooks_remain(alice, state, project) -> None:
    with transaction(state.sessions) as db:
        hidden = db.scalar(select(Project.project_account_id).where(
            Project.uuid == project["id"]))
    add_webhook(state, hidden)
    run_fails(alice.client, "deleteProject", 530, "Can't delete the project yet because it has "
              "1 Webhook to clean up", id=project["id"])
    assert alice.client.ok("listProjects")["project"][0]["state"] == "Active"
    with transaction(state.sessions) as db:
        project_id = db.scalar(select(Project.id).where(Project.uuid == project["id"]))
    assert project_events(state, "PROJECT.DELETE")[-1] == (
        "Completed", f"Error while deleting project. Project Id: {project_id}",
        alice.account_id)
    assert run(alice.client, "deleteProject", id=project["id"], cleanup=True) == {
        "success": True}
    with transaction(state.sessions) as db:
        assert db.scalar(select(Webhook.removed)) is not None


def test_delete_project(admin, alice, bob, state, project) -> None:
    add(alice.client, project, "bob")
    run_fails(bob.client, "deleteProject", 531, "Account bob does not have permission to "
              "operate with resource account PrjAcct-p1-1", id=project["id"])
    bob.client.ok("createSSHKeyPair", name="k", projectid=project["id"])
    assert run(alice.client, "deleteProject", id=project["id"]) == {"success": True}
    assert alice.client.ok("listProjects") == {}
    assert admin.ok("listProjects", listall=True) == {}
    with transaction(state.sessions) as db:
        row = db.scalar(select(Project).where(Project.uuid == project["id"]))
        assert row.removed is not None and row.state == "Disabled"
        assert db.get(Account, row.project_account_id).removed is not None
        assert db.scalar(select(func.count()).select_from(ProjectAccount)) == 0
        assert db.scalar(select(func.count()).select_from(SSHKeyPair)) == 0
        project_id = row.id
    assert project_events(state, "PROJECT.DELETE")[-1] == (
        "Completed", f"Successfully completed deleting project. Project Id: {project_id}",
        alice.account_id)
    # Gone: every later call finds nothing, and async ones fail before a job is queued.
    jobs = _jobs(state)
    alice.client.fails("deleteProject", 431, f"Unable to find project by id {project_id}",
                       id=project["id"])
    alice.client.fails("updateProject", 431, f"Unable to find project by id {project_id}",
                       id=project["id"], displaytext="x")
    res = alice.client.fails("addAccountToProject", 431, "Unable to find project with "
                             "specified id", projectid=project["id"], account="bob")
    assert res.body["uuidList"] == [{"uuid": project["id"], "description": "projectId"}]
    alice.client.fails("deleteAccountFromProject", 431, "Unable to find project with "
                       "specified id", projectid=project["id"], account="bob")
    assert _jobs(state) == jobs
    alice.client.fails("listProjectAccounts", 431, f"Unable to find the project id={project_id}",
                       projectid=project["id"])
    bob.client.fails("createSSHKeyPair", 431, f"Unable to find project by id={project_id}",
                     name="late", projectid=project["id"])


def _jobs(state: Any) -> int:
    with transaction(state.sessions) as db:
        return db.scalar(select(func.count()).select_from(AsyncJob))


def test_async_jobs_name_the_project(alice, project) -> None:
    job = wait(alice.client, alice.client.ok("updateProject", id=project["id"],
                                             displaytext="x")["jobid"])
    assert (job["jobinstancetype"], job["jobinstanceid"]) == ("Project", project["id"])


def test_factory_projects_work_with_the_commands(app, state, alice, bob) -> None:
    _, project_uuid, _ = create_project(state, "made", 1, alice.account_id,
                                        members=(bob.account_id,))
    body = bob.client.ok("listProjects")
    assert body["project"][0]["id"] == project_uuid
    assert body["project"][0]["owner"] == [{"account": "alice"}]


def test_projectid_minus_one_names_no_project(alice, state) -> None:
    jobs = _jobs(state)
    alice.client.fails("addAccountToProject", 431, "Unable to find project with specified id",
                       projectid=-1, account="bob")
    alice.client.fails("deleteAccountFromProject", 431, "Unable to find project with specified "
                       "id", projectid=-1, account="bob")
    alice.client.fails("listProjectAccounts", 431, "Unable to find the project id=-1",
                       projectid=-1)
    assert _jobs(state) == jobs

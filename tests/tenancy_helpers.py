"""Helpers for the tenancy tests: data made through the API, async jobs polled to the end,
database snapshots for "nothing was written" checks."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, text

from csapi.db import transaction
from csapi.db.models import Event
from tests.client import ApiClient

# Tables a tenancy command may write; a refused call must leave all of them as they were.
WATCHED = ("domain", "account", "user", "account_details", "domain_details", "event",
           "project_account", "ssh_keypairs", "webhook")


def wait_job(client: ApiClient, jobid: str, timeout: float = 15.0) -> dict[str, Any]:
    """Poll queryAsyncJobResult until the job is done (jobs run in a background thread)."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.ok("queryAsyncJobResult", jobid=jobid)
        if job["jobstatus"] != 0:
            return job
        assert time.monotonic() < deadline, f"job {jobid} still pending: {job}"
        time.sleep(0.02)


def run_async(client: ApiClient, command: str, **params: Any) -> dict[str, Any]:
    """Submit an async command and return its finished job (queryAsyncJobResult body)."""
    body = client.ok(command, **params)
    assert set(body) == {"jobid"}, body
    return wait_job(client, body["jobid"])


def job_ok(client: ApiClient, command: str, **params: Any) -> dict[str, Any]:
    job = run_async(client, command, **params)
    assert job["jobstatus"] == 1 and job["jobresultcode"] == 0, job
    return job["jobresult"]


def job_fails(client: ApiClient, command: str, code: int, text_: str | None = None,
              **params: Any) -> dict[str, Any]:
    job = run_async(client, command, **params)
    assert job["jobstatus"] == 2, job
    assert job["jobresultcode"] == code, job
    assert job["jobresult"]["errorcode"] == code, job
    if text_ is not None:
        assert job["jobresult"]["errortext"] == text_, job["jobresult"]["errortext"]
    return job


def new_domain(admin: ApiClient, name: str, parent: str | None = None) -> dict[str, Any]:
    return admin.ok("createDomain", name=name, parentdomainid=parent)["domain"]


def new_account(client: ApiClient, username: str, *, domainid: str | None = None,
                accounttype: int | None = 0, **extra: Any) -> dict[str, Any]:
    params = dict(username=username, password="secret1", email=f"{username}@example.com",
                  firstname=username.capitalize(), lastname="Tester", domainid=domainid,
                  accounttype=accounttype, **extra)
    return client.ok("createAccount", **params)["account"]


def client_for(app: Any, admin: ApiClient, user_id: str) -> ApiClient:
    """An API client signed with freshly registered keys of the user `user_id`."""
    keys = admin.ok("registerUserKeys", id=user_id)["userkeys"]
    return ApiClient(app.test_client(), keys["apikey"], keys["secretkey"])


def snapshot(state: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the watched tables, to compare before/after a refused call."""
    with transaction(state.sessions) as db:
        return {table: sorted(tuple(str(v) for v in row)
                              for row in db.execute(text(f"SELECT * FROM `{table}`"
                                                         if state.engine.dialect.name != "sqlite"
                                                         else f'SELECT * FROM "{table}"')))
                for table in WATCHED}


def events(state: Any, event_type: str | None = None) -> list[Event]:
    with transaction(state.sessions) as db:
        stmt = select(Event).order_by(Event.id)
        if event_type is not None:
            stmt = stmt.where(Event.type == event_type)
        return list(db.scalars(stmt))


def event_texts(state: Any, event_type: str) -> list[tuple[str, str, str]]:
    """(state, level, description) of every event of a type, oldest first."""
    return [(e.state, e.level, e.description) for e in events(state, event_type)]


def row(state: Any, model: type, uuid: str) -> Any:
    with transaction(state.sessions) as db:
        return db.scalar(select(model).where(model.uuid == uuid))


def login(app: Any, username: str, password: str, domain: str = "/") -> tuple[ApiClient, str]:
    """A session (cookie jar + session key) for a user; returns the client and its key."""
    client = ApiClient(app.test_client())
    res = client.call("login", method="POST", username=username, password=password,
                      domain=domain)
    assert res.status == 200, res.body
    return client, res.body["sessionkey"]

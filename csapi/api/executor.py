"""Running a command: one transaction per call, ActionEvents, async jobs.

Sync commands run in the request's transaction and record their declared ActionEvent
(`Completed`, "Successfully completed <description>"). Async commands record `Scheduled` and an
`async_job` row in the request's transaction, answer `jobid`, and run afterwards in a job of
their own (`Started`, then `Completed` or an ERROR `Completed`), like CloudStack's
ApiAsyncJobDispatcher.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid as uuidlib
from datetime import datetime
from typing import Any

from sqlalchemy import update

from csapi import events
from csapi.api import params as paramlib
from csapi.api.context import CallContext
from csapi.api.errors import USER_ERROR_MESSAGE, ApiError
from csapi.api.registry import Command, Kind, ListResult, SuccessResult, format_date
from csapi.db import transaction
from csapi.db.models import Account, AsyncJob, Domain, Role, User

log = logging.getLogger(__name__)


# event_details keys an async command's submission phase may hand to its job.
EVENT_TEXTS = ("started", "completed", "failed")


def now() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


def _json_value(value: Any) -> Any:
    """Job results keep API dates in CloudStack's format."""
    return format_date(value) if isinstance(value, datetime) else str(value)


def shape(command: Command, result: Any) -> dict[str, Any]:
    """Turn a handler's result into the response body inside the envelope."""
    if isinstance(result, SuccessResult) or result is None or result is True:
        res = result if isinstance(result, SuccessResult) else SuccessResult()
        body: dict[str, Any] = {"success": res.success}
        if res.displaytext is not None:
            body["displaytext"] = res.displaytext
        return body
    if isinstance(result, ListResult):
        assert command.response is not None
        if result.count == 0:
            return {}
        body = {"count": result.count}
        if result.items:
            body[command.response.name] = [command.response.render(i) for i in result.items]
        return body
    assert command.response is not None, f"{command.name} returned an object"
    if command.flat:
        return command.response.render(result)
    return {command.response.name: command.response.render(result)}


def job_result(command: Command, result: Any) -> dict[str, Any]:
    body = shape(command, result)
    if "displaytext" in body:  # the job result names it `details`
        body["details"] = body.pop("displaytext")
    return body


def record_command_event(
    ctx: CallContext, command: Command, state: str, level: str = "INFO",
    start_id: int = 0, description: str | None = None,
) -> int:
    spec = command.event
    assert spec is not None
    details = ctx.event_details
    text = description or details.get("description") or spec.description
    owner = details.get("account") or ctx.account
    row = events.record(
        ctx.db, ctx.pending_events, event_type=details.get("type", spec.type),
        description=text, user=ctx.user, account=owner, state=state, level=level,
        resource_type=details.get("resource_type"), resource_id=details.get("resource_id"),
        resource_uuid=details.get("resource_uuid"), start_id=start_id,
    )
    return row.id


def run_sync(ctx: CallContext, command: Command, p: paramlib.Params) -> dict[str, Any]:
    result = command.handler(ctx, p)
    if command.event is not None and not ctx.event_details.get("skip"):
        desc = ctx.event_details.get("completed") or (
            "Successfully completed " + command.event.description)
        record_command_event(ctx, command, "Completed", description=desc)
    return shape(command, result)


def submit_job(ctx: CallContext, command: Command, p: paramlib.Params) -> tuple[dict, int]:
    """Create the job (and, for async-create commands, the entity); return the answer."""
    body: dict[str, Any] = {}
    instance_id = None
    start_id = 0
    if command.kind is Kind.ASYNC_CREATE:
        assert command.create is not None
        entity = command.create(ctx, p)
        instance_id = entity.id
        body["id"] = entity.uuid
        if command.event is not None:
            # Handlers may append CloudStack's event details via event_details["created"].
            start_id = record_command_event(
                ctx, command, "Created",
                description=ctx.event_details.get("created") or (
                    "Successfully created entity for "
                    + (command.event.create_description or command.event.description)),
            )
    elif command.create is not None:
        # An async command may look at its target when submitted: it names the job's instance
        # (jobinstanceid) and may refine the events via event_details (description/account
        # of Scheduled; started/completed/failed texts of the job's events).
        entity = command.create(ctx, p)
        if entity is not None:
            instance_id = entity.id
    if command.event is not None:
        sid = record_command_event(ctx, command, "Scheduled", start_id=start_id)
        start_id = start_id or sid
    info = dict(p.raw)
    info["_start_id"] = str(start_id)
    if instance_id is not None:
        info["_instance_id"] = str(instance_id)
    for key in EVENT_TEXTS:
        if ctx.event_details.get(key):
            info["_" + key] = ctx.event_details[key]
    if ctx.event_details.get("resource_uuid"):
        info["_resource_uuid"] = ctx.event_details["resource_uuid"]
        info["_resource_type"] = ctx.event_details.get("resource_type", "")
    job = AsyncJob(
        uuid=str(uuidlib.uuid4()), user_id=ctx.user.id, account_id=ctx.account.id,
        job_cmd=command.name, job_cmd_info=json.dumps(info), job_status=0,
        job_process_status=0, job_result_code=0, instance_type=command.instance_type,
        instance_id=instance_id, job_init_msid=ctx.state.msid, created=now(),
        last_updated=now(),
    )
    ctx.db.add(job)
    ctx.db.flush()
    body["jobid"] = job.uuid
    return body, job.id


def start_job(state: Any, job_id: int) -> None:
    threading.Thread(target=run_job, args=(state, job_id), daemon=True,
                     name=f"job-{job_id}").start()


def _job_context(db: Any, state: Any, job: AsyncJob) -> CallContext:
    user = db.get(User, job.user_id)
    account = db.get(Account, job.account_id)
    domain = db.get(Domain, account.domain_id)
    role = db.get(Role, account.role_id or 4)
    return CallContext(db=db, state=state, user=user, account=account, domain=domain, role=role)


def run_job(state: Any, job_id: int) -> None:
    from csapi.api.registry import REGISTRY

    published: list[events.PublishedEvent] = []
    with transaction(state.sessions) as db:
        job = db.get(AsyncJob, job_id)
        assert job is not None
        command = REGISTRY[job.job_cmd]
        info = json.loads(job.job_cmd_info or "{}")
        start_id = int(info.pop("_start_id", "0"))
        instance = info.pop("_instance_id", None)
        resource = (info.pop("_resource_type", None), info.pop("_resource_uuid", None))
        texts = {key: info.pop("_" + key, None) for key in EVENT_TEXTS}
        ctx = _job_context(db, state, job)
        ctx.command = command
        if resource[1]:
            ctx.event_details.update(resource_type=resource[0], resource_uuid=resource[1])
        if command.event is not None:
            desc = command.event.description
            record_command_event(ctx, command, "Started", start_id=start_id,
                                 description=texts["started"] or desc[:1].upper() + desc[1:])
        db.execute(update(AsyncJob).where(AsyncJob.id == job_id).values(
            job_executing_msid=state.msid, last_updated=now()))
        published.extend(ctx.pending_events)
    state.bus.publish(published)

    ok_events: list[events.PublishedEvent] = []
    try:
        with transaction(state.sessions) as db:
            job = db.get(AsyncJob, job_id)
            assert job is not None
            ctx = _job_context(db, state, job)
            ctx.command = command
            if resource[1]:
                ctx.event_details.update(resource_type=resource[0], resource_uuid=resource[1])
            flat = {k: v for k, v in info.items()}
            p = paramlib.parse(db, command, flat, {}, ctx.role_type)
            if instance is not None:
                p.values["_instance_id"] = int(instance)
            result = command.handler(ctx, p)
            body = job_result(command, result)
            if command.event is not None:
                desc = ctx.event_details.get("completed") or texts["completed"] or (
                    "Successfully completed " + command.event.description)
                record_command_event(ctx, command, "Completed", start_id=start_id,
                                     description=desc)
            db.execute(update(AsyncJob).where(AsyncJob.id == job_id).values(
                job_status=1, job_result_code=0,
                job_result=json.dumps(body, default=_json_value),
                completed=now(), last_updated=now()))
            ok_events = ctx.pending_events
        state.bus.publish(ok_events)
        return
    except ApiError as exc:
        code, text = exc.code, exc.text
    except Exception:  # noqa: BLE001 - a job failure is recorded, never lost
        log.exception("async job %s failed", job_id)
        code, text = 530, USER_ERROR_MESSAGE
    failed: list[events.PublishedEvent] = []
    with transaction(state.sessions) as db:
        job = db.get(AsyncJob, job_id)
        assert job is not None
        ctx = _job_context(db, state, job)
        if resource[1]:
            ctx.event_details.update(resource_type=resource[0], resource_uuid=resource[1])
        if command.event is not None:
            record_command_event(ctx, command, "Completed", level="ERROR", start_id=start_id,
                                 description=texts["failed"]
                                 or "Error while " + command.event.description)
        db.execute(update(AsyncJob).where(AsyncJob.id == job_id).values(
            job_status=2, job_result_code=code,
            job_result=json.dumps({"errorcode": code, "errortext": text}),
            completed=now(), last_updated=now()))
        failed = ctx.pending_events
    state.bus.publish(failed)


def fail_interrupted_jobs(state: Any) -> None:
    """Jobs this server started before it stopped can't resume: fail them, as CloudStack
    does on start-up."""
    with transaction(state.sessions) as db:
        db.execute(update(AsyncJob).where(
            AsyncJob.job_status == 0, AsyncJob.job_init_msid == state.msid,
        ).values(job_status=2, job_result_code=530,
                 job_result=json.dumps({"errorcode": 530, "errortext":
                                        "Job was interrupted by a management server restart"}),
                 completed=now(), last_updated=now()))

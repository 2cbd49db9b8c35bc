"""queryAsyncJobResult and listAsyncJobs."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from csapi.api.acl import check_account_access, visibility
from csapi.api.context import CallContext
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ACL_LIST_PARAMS,
    Field,
    Kind,
    ListResult,
    Param,
    ResponseObject,
    command,
)
from csapi.commands.views import domain_path
from csapi.db.models import Account, AsyncJob, Domain, ManagementServer, User

_FIELDS = (
    Field("accountid", "string", "the account id that executed the async command"),
    Field("account", "string", "the account that executed the async command"),
    Field("domainid", "string", "the domain id that executed the async command"),
    Field("domainpath", "string", "the domain that executed the async command"),
    Field("userid", "string", "the user that executed the async command"),
    Field("cmd", "string", "the async command executed"),
    Field("jobprocstatus", "integer", "the progress information of the PENDING job"),
    Field("jobresultcode", "integer", "the result code for the job"),
    Field("jobresulttype", "string", "the result type"),
    Field("jobresult", "responseobject", "the result reason"),
    Field("jobinstancetype", "string", "the instance/entity object related to the job"),
    Field("jobinstanceid", "string", "the unique ID of the instance/entity object related to "
          "the job"),
    Field("managementserverid", "string", "the msid of the management server on which the job "
          "is running"),
    Field("managementservername", "string", "the management server name of the host on which "
          "the job is running"),
    Field("created", "date", "the created date of the job"),
    Field("completed", "date", "the completed date of the job"),
    Field("jobid", "string", "the UUID of the latest async job acting on this object"),
    Field("jobstatus", "integer", "the current status of the latest async job acting on this "
          "object"),
)
# queryAsyncJobResult answers flat (no object wrapper); listAsyncJobs wraps items in
# `asyncjobs`.
QUERY_RESULT = ResponseObject("asyncjobs", _FIELDS)
ASYNC_JOBS = ResponseObject("asyncjobs", _FIELDS)

# CloudStack reports the command's Java class; we report a stable name in the same spirit.
_CMD_PREFIX = "org.apache.cloudstack.api.command."


def _instance_uuid(ctx: CallContext, job: AsyncJob) -> str | None:
    if job.instance_id is None or not job.instance_type:
        return None
    from csapi.db import models

    model = {"Domain": models.Domain, "Account": models.Account, "User": models.User,
             "Project": models.Project}.get(job.instance_type)
    row = ctx.db.get(model, job.instance_id) if model else None
    return getattr(row, "uuid", None)


def job_view(ctx: CallContext, job: AsyncJob) -> dict[str, Any]:
    account = ctx.db.get(Account, job.account_id)
    user = ctx.db.get(User, job.user_id)
    domain = ctx.db.get(Domain, account.domain_id) if account else None
    ms = ctx.db.scalar(select(ManagementServer).where(
        ManagementServer.msid == (job.job_executing_msid or job.job_init_msid)))
    result = json.loads(job.job_result) if job.job_result else None
    return {
        "accountid": account.uuid if account else None,
        "account": account.account_name if account else None,
        "domainid": domain.uuid if domain else None,
        "domainpath": domain_path(domain) if domain else None,
        "userid": user.uuid if user else None,
        "cmd": _CMD_PREFIX + job.job_cmd,
        "jobprocstatus": job.job_process_status,
        "jobresultcode": job.job_result_code,
        "jobresulttype": "object" if result is not None else None,
        "jobresult": result,
        "jobinstancetype": job.instance_type,
        "jobinstanceid": _instance_uuid(ctx, job),
        "managementserverid": ms.uuid if ms else None,
        "managementservername": ms.name if ms else None,
        "created": job.created,
        "completed": job.completed,
        "jobid": job.uuid,
        "jobstatus": job.job_status,
    }


@command(
    "queryAsyncJobResult",
    description="Retrieves the current status of asynchronous job.",
    params=[Param("jobid", "uuid", True, "the ID of the asynchronous job", entity=AsyncJob)],
    response=QUERY_RESULT,
    flat=True,
)
def query_async_job_result(ctx: CallContext, p: Params) -> dict[str, Any]:
    job: AsyncJob = p["jobid"]
    owner = ctx.db.get(Account, job.account_id)
    assert owner is not None
    check_account_access(ctx, owner, what=f"async job {job.uuid}")
    return job_view(ctx, job)


@command(
    "listAsyncJobs",
    description="Lists all pending asynchronous jobs for the account.",
    params=[*ACL_LIST_PARAMS,
            Param("startdate", "date", description="The start date of the async job "
                  "(use format \"yyyy-MM-dd'T'HH:mm:ss'+'SSSS\")")],
    response=ASYNC_JOBS,
    kind=Kind.LIST,
)
def list_async_jobs(ctx: CallContext, p: Params) -> ListResult:
    vis = visibility(ctx, account=p["account"], domain=p["domainid"],
                     isrecursive=p["isrecursive"], listall=p["listall"])
    vis.projects = "include"
    stmt = select(AsyncJob).join(Account, Account.id == AsyncJob.account_id)
    stmt = vis.apply(stmt, AsyncJob.account_id, Account.domain_id)
    if p["startdate"] is not None:
        stmt = stmt.where(AsyncJob.created >= p["startdate"])
    return page_query(ctx, p, stmt.order_by(AsyncJob.id.desc()), lambda j: job_view(ctx, j))

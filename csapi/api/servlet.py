"""`/client/api`: CloudStack's ApiServlet — parse, authenticate, dispatch, render.

Order matters and follows CloudStack: login/logout first; a live session is checked before any
signature; with keys, every failure (unknown command included) is a 401; errors are always
CloudStack's envelope, never a traceback.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select

from csapi.api import acl, executor, serialize
from csapi.api import params as paramlib
from csapi.api.auth import LOGIN_COMMANDS, handle_login, handle_logout
from csapi.api.context import CallContext
from csapi.api.errors import (
    CREDENTIALS_TEXT,
    INTERNAL_ERROR,
    UNSUPPORTED_ACTION_ERROR,
    USER_ERROR_MESSAGE,
    ApiError,
    Unauthorized,
)
from csapi.api.registry import REGISTRY, Command
from csapi.api.signing import parse_expires, signature_matches
from csapi.db import transaction
from csapi.db.models import Account, Domain, Role, User

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1;mode=block",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


class Request:
    """The parsed HTTP request: merged raw parameters and the response format."""

    def __init__(self) -> None:
        query = paramlib.split_query(request.query_string.decode("latin-1"))
        form: list[tuple[str, str]] = []
        if (request.mimetype or "") == "application/x-www-form-urlencoded":
            form = paramlib.split_query(request.get_data(cache=False).decode("latin-1"))
        # Percent-decoding above yields bytes as latin-1 code points; re-read them as UTF-8.
        self.raw = {_utf8(k): _utf8(v) for k, v in paramlib.merge(form, query).items()}
        self.as_json = (paramlib.get_ci(self.raw, "response") or "").lower() == "json"
        self.command_name = self.raw.get("command")


def _utf8(text: str) -> str:
    return text.encode("latin-1", "replace").decode("utf-8", "replace")


def respond(envelope: str, body: dict[str, Any], as_json: bool, status: int = 200,
            extra_headers: dict[str, str] | None = None) -> Response:
    text, content_type = serialize.render(envelope, body, as_json)
    resp = Response(text, status=status, content_type=content_type)
    for k, v in {**SECURITY_HEADERS, **(extra_headers or {})}.items():
        resp.headers[k] = v
    return resp


def error_response(exc: ApiError, envelope: str, as_json: bool) -> Response:
    body: dict[str, Any] = {"uuidList": exc.uuids, "errorcode": exc.code}
    if exc.cs_code is not None:
        body["cserrorcode"] = exc.cs_code
    body["errortext"] = exc.text
    name = exc.envelope or envelope
    return respond(name, body, as_json, status=exc.code,
                   extra_headers={"X-Description": exc.text[:1024].encode(
                       "ascii", "replace").decode()})


def envelope_for(name: str | None) -> str:
    if name and (name in REGISTRY or name in LOGIN_COMMANDS):
        return name.lower() + "response"
    return "errorresponse"


@bp.route("/client/api", methods=["GET", "POST"], strict_slashes=False)
def api() -> Response:
    as_json = True
    envelope = "errorresponse"
    try:
        req = Request()
        as_json = req.as_json
        envelope = envelope_for(req.command_name)
        return dispatch(req, envelope)
    except ApiError as exc:
        return error_response(exc, envelope, as_json)
    except Exception:  # noqa: BLE001 - never a traceback on the wire
        log.exception("unhandled error in API request")
        return error_response(ApiError(INTERNAL_ERROR, USER_ERROR_MESSAGE, 9999),
                              envelope, as_json)


def dispatch(req: Request, envelope: str) -> Response:
    state = current_app.config["CSAPI_STATE"]
    name = req.command_name
    if request.environ.get("csapi.integration"):
        return run_command(state, req, envelope, user_id=1)
    if name == "login":
        return handle_login(state, req, respond)
    session_id = request.cookies.get("JSESSIONID")
    session = state.api_sessions.get(session_id)
    if name == "logout":
        return handle_logout(state, req, session, respond)
    if session is not None:
        cookie_key = request.cookies.get("sessionkey")
        param_key = paramlib.get_ci(req.raw, "sessionkey")
        if not (cookie_key and param_key and cookie_key == param_key == session.session_key):
            state.api_sessions.invalidate(session.session_id)
            raise Unauthorized("unable to verify user credentials")
        if not name:
            raise ApiError(400, "no command specified", None)
        if name not in REGISTRY:
            raise ApiError(UNSUPPORTED_ACTION_ERROR, f"Unknown API command: {name}", 9999,
                           envelope="errorresponse")
        return run_command(state, req, envelope, user_id=session.user_id, session=True)
    user_id = verify_signature(state, req)
    return run_command(state, req, envelope, user_id=user_id)


def verify_signature(state: Any, req: Request) -> int:
    """ApiServer.verifyRequest; any failure is the same 401."""
    name = req.command_name
    if not name or name not in REGISTRY:
        raise Unauthorized()
    api_key = paramlib.get_ci(req.raw, "apikey")
    signature = paramlib.get_ci(req.raw, "signature")
    if not api_key or not signature:
        raise Unauthorized()
    if paramlib.get_ci(req.raw, "signatureversion") == "3":
        expires = parse_expires(paramlib.get_ci(req.raw, "expires") or "")
        if expires is None or expires < datetime.now(timezone.utc):
            raise Unauthorized()
    with transaction(state.sessions) as db:
        user = db.scalar(select(User).where(User.api_key == api_key, User.removed.is_(None)))
        if user is None or user.secret_key is None:
            raise Unauthorized()
        secret = state.secrets.decrypt(user.secret_key)
        if not signature_matches(secret, list(req.raw.items()), signature):
            raise Unauthorized()
        return user.id


def load_caller(db: Any, state: Any, user_id: int) -> CallContext:
    user = db.get(User, user_id)
    account = db.get(Account, user.account_id) if user else None
    if (user is None or account is None or user.removed is not None
            or account.removed is not None or user.state != "enabled"
            or account.state != "enabled"):
        raise Unauthorized(CREDENTIALS_TEXT)
    domain = db.get(Domain, account.domain_id)
    role = db.get(Role, account.role_id or 4)
    return CallContext(db=db, state=state, user=user, account=account, domain=domain,
                       role=role, remote_addr=request.remote_addr or "",
                       http_method=request.method)


def run_command(state: Any, req: Request, envelope: str, *, user_id: int,
                session: bool = False) -> Response:
    name = req.command_name
    if not name:
        raise Unauthorized()
    command: Command | None = REGISTRY.get(name)
    if command is None:
        raise ApiError(UNSUPPORTED_ACTION_ERROR, f"Unknown API command: {name}", 9999,
                       envelope="errorresponse")
    flat, maps = paramlib.unpack(req.raw, name)
    paramlib.check_control_chars(flat, maps)
    job_id = None
    with transaction(state.sessions) as db:
        ctx = load_caller(db, state, user_id)
        ctx.command = command
        if user_id != 1 or not request.environ.get("csapi.integration"):
            acl.check_api_access(ctx, command)
        p = paramlib.parse(db, command, flat, maps, ctx.role_type)
        if command.is_async:
            body, job_id = executor.submit_job(ctx, command, p)
        else:
            body = executor.run_sync(ctx, command, p)
        pending = ctx.pending_events
    state.bus.publish(pending)
    if job_id is not None:
        executor.start_job(state, job_id)
    return respond(envelope, body, req.as_json)

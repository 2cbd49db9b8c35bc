"""`/client/api`: CloudStack's ApiServlet — parse, authenticate, dispatch, render.

Order matters and follows CloudStack: login/logout first; a live session is checked before any
signature; with keys, every failure (unknown command included) is a 401; errors are always
CloudStack's envelope, never a traceback.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from flask import Blueprint, Response, current_app, request
from sqlalchemy import func, select
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from csapi import settings
from csapi.api import acl, executor, serialize
from csapi.api import params as paramlib
from csapi.api.auth import LOGIN_COMMANDS, handle_login, handle_logout
from csapi.api.context import CallContext
from csapi.api.errors import (
    CREDENTIALS_TEXT,
    CS_UNAVAILABLE_COMMAND,
    INTERNAL_ERROR,
    UNAUTHORIZED,
    UNSUPPORTED_ACTION_ERROR,
    USER_ERROR_MESSAGE,
    ApiError,
    Unauthorized,
)
from csapi.api.registry import REGISTRY, Command
from csapi.api.signing import parse_expires, signature_matches
from csapi.db import hold, transaction
from csapi.db.models import Account, Domain, Role, User

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__)

SECURITY_HEADERS = serialize.SECURITY_HEADERS
SESSION_TEXT = "unable to verify user credentials"
# Largest request body, and largest request line (csapi.api.wsgi): big enough for CloudStack's
# largest parameters (userdata), small enough to refuse abuse.
MAX_REQUEST_SIZE = 32 * 1024 * 1024
# Set by csapi.api.wsgi when a request line was longer than even that.
REQUEST_LINE_TOO_LONG = "csapi.request_line_too_long"
# How far in the future a signatureVersion=3 `expires` may be when timestamps are enforced.
EXPIRES_CEILING = timedelta(minutes=15)
# Settings most requests read (signature check, API key access, event publishing, paging):
# loaded with one query at the start of the request's transaction.
REQUEST_SETTINGS = ("enforce.post.requests.and.timestamps", "api.key.access",
                    "enable.domain.settings.for.child.domain",
                    "enable.account.settings.for.domain", "publish.action.events",
                    "default.page.size")


class Request:
    """The parsed HTTP request: merged raw parameters and the response format."""

    def __init__(self) -> None:
        self.query = paramlib.split_query(request.query_string)
        self.raw = dict(self.query)
        # Known before the body is read, so even a refused body gets the right format.
        self.as_json = _wants_json(self.raw)
        self.command_name: str | None = None

    def read_form(self) -> None:
        """Merge in a form body (query values win), as the servlet's parameter map does:
        only a POST's `application/x-www-form-urlencoded` body holds parameters."""
        form: list[tuple[str, str]] = []
        if (request.method == "POST"
                and (request.mimetype or "") == "application/x-www-form-urlencoded"):
            form = paramlib.split_query(request.get_data(cache=False))
        self.raw = paramlib.merge(form, self.query)
        self.as_json = _wants_json(self.raw)
        self.command_name = self.raw.get("command")


def _wants_json(raw: dict[str, str]) -> bool:
    return (paramlib.get_ci(raw, "response") or "").lower() == "json"


def query_wants_json() -> bool:
    """For errors raised before the parameters could be read."""
    try:
        return _wants_json(dict(paramlib.split_query(request.query_string)))
    except Exception:  # noqa: BLE001 - a broken query string still gets an answer
        return False


def respond(envelope: str, body: dict[str, Any], as_json: bool, status: int = 200,
            extra_headers: dict[str, str] | None = None) -> Response:
    text, content_type = serialize.render(envelope, body, as_json)
    resp = Response(text, status=status, content_type=content_type)
    for k, v in {**SECURITY_HEADERS, **(extra_headers or {})}.items():
        resp.headers[k] = v
    return resp


def _header_text(text: str) -> str:
    # Header values are one line of printable ASCII; error texts may echo user input.
    return "".join(c if " " <= c < "\x7f" else "?" for c in text[:1024])


def error_response(exc: ApiError, envelope: str, as_json: bool) -> Response:
    body: dict[str, Any] = {"uuidList": exc.uuids, "errorcode": exc.code}
    if exc.cs_code is not None:
        body["cserrorcode"] = exc.cs_code
    body["errortext"] = exc.text
    name = exc.envelope or envelope
    return respond(name, body, as_json, status=exc.code,
                   extra_headers={"X-Description": _header_text(exc.text)})


def envelope_for(name: str | None) -> str:
    """The command's response name; `errorresponse` when there is no such command."""
    if name in REGISTRY:
        return REGISTRY[name].response_name
    if name in LOGIN_COMMANDS:
        return name.lower() + "response"
    return "errorresponse"


def http_error(exc: HTTPException) -> ApiError:
    """A transport-level refusal (body too large, bad method...) as CloudStack's envelope."""
    code = exc.code or 400
    if code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return ApiError(413, f"Request Entity Too Large: the request body is longer than "
                        f"{limit} bytes", None)
    if code == 405:
        return ApiError(405, f"HTTP method {request.method} is not supported by this URL", None)
    return ApiError(code, exc.description or exc.name, None)


@bp.route("/client/api", methods=["GET", "POST"], strict_slashes=False)
def api() -> Response:
    as_json = False
    envelope = "errorresponse"
    try:
        req = Request()
        as_json = req.as_json
        req.read_form()
        as_json = req.as_json
        envelope = envelope_for(req.command_name)
        if request.environ.get(REQUEST_LINE_TOO_LONG):
            raise ApiError(414, "Request-URI Too Long: the request line is longer than "
                           f"{request.environ[REQUEST_LINE_TOO_LONG]} bytes", None)
        return dispatch(req, envelope)
    except ApiError as exc:
        return error_response(exc, envelope, as_json)
    except HTTPException as exc:
        return error_response(http_error(exc), envelope, as_json)
    except (OperationalError, InterfaceError) as exc:
        # The database is away (restarting, connections cut): one line per request, not a
        # traceback each, so an outage does not bury the log.
        log.warning("API request failed, database unavailable: %s",
                    str(exc.orig or exc).splitlines()[0])
        return error_response(ApiError(INTERNAL_ERROR, USER_ERROR_MESSAGE, 9999),
                              envelope, as_json)
    except Exception:  # noqa: BLE001 - never a traceback on the wire
        log.exception("unhandled error in API request")
        return error_response(ApiError(INTERNAL_ERROR, USER_ERROR_MESSAGE, 9999),
                              envelope, as_json)


def dispatch(req: Request, envelope: str) -> Response:
    state = current_app.config["CSAPI_STATE"]
    name = req.command_name
    if request.environ.get("csapi.integration"):
        # ApiServer.handle: no session, no signature; everything runs as SYSTEM.
        if not name:
            raise ApiError(UNSUPPORTED_ACTION_ERROR, "Invalid request, no command sent")
        return run_command(state, req, envelope, user_id=1, integration=True)
    if name == "login":
        return handle_login(state, req, respond)
    session_id = request.cookies.get("JSESSIONID")
    session = state.api_sessions.get(session_id)
    if name == "logout":
        return handle_logout(state, req, session, respond)
    if session is not None:
        cookie_key = request.cookies.get("sessionkey")
        param_key = paramlib.get_ci(req.raw, "sessionkey")
        if not (cookie_key and param_key and _same(cookie_key, session.session_key)
                and _same(param_key, session.session_key)):
            state.api_sessions.invalidate(session.session_id)
            raise Unauthorized(SESSION_TEXT)
        with transaction(state.sessions) as db:
            user_ok = _enabled_user(db, session.user_id) is not None
            if user_ok and name and name not in REGISTRY:
                raise unknown_command(db, session.user_id, name)
        if not user_ok:
            # ApiServer.verifyUser: a deleted/disabled/locked user's session ends here.
            state.api_sessions.invalidate(session.session_id)
            raise Unauthorized(SESSION_TEXT)
        if not name:
            raise ApiError(400, "no command specified", None)
        return run_command(state, req, envelope, user_id=session.user_id)
    # A signed request: verified first thing in the command's own transaction.
    return run_command(state, req, envelope, user_id=None)


def _same(given: str, secret: str) -> bool:
    """Constant-time, so the time taken tells nothing about how much of a key was right."""
    return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def _enabled_user(db: Any, user_id: int) -> tuple[User, Account] | None:
    user = db.get(User, user_id)
    account = db.get(Account, user.account_id) if user is not None else None
    if (user is None or account is None or user.removed is not None
            or account.removed is not None or user.state != "enabled"
            or account.state != "enabled"):
        return None
    return user, account


def unknown_command(db: Any, user_id: int, name: str) -> ApiError:
    """A session caller naming a command that does not exist: the role checker speaks first
    (its rules match names, existing or not), then ApiServer's "Unknown API command"."""
    user = db.get(User, user_id)
    account = db.get(Account, user.account_id)
    role = db.get(Role, account.role_id or 4)
    decision = acl.role_allows(db, role, cast(Command, SimpleNamespace(name=name)))
    if decision is False:
        return ApiError(UNAUTHORIZED, f"The given command '{name}' either does not exist, is "
                        "not available for user.", None)
    if decision is None:
        return ApiError(UNSUPPORTED_ACTION_ERROR, f"The API {name} does not exist or is not "
                        "available for this account.", CS_UNAVAILABLE_COMMAND,
                        envelope="errorresponse")
    return ApiError(UNSUPPORTED_ACTION_ERROR, f"Unknown API command: {name}",
                    envelope="errorresponse")


def verify_signature(state: Any, req: Request) -> int:
    """ApiServer.verifyRequest; any failure is the same 401. Returns the caller's user id."""
    with transaction(state.sessions) as db:
        return int(_verified_caller(state, req, db)[0].id)


def _verified_caller(state: Any, req: Request, db: Any) -> tuple[User, Account]:
    """verify_signature's checks, reading in `db` (run_command's transaction, so that the
    command finds the caller's rows loaded); the caller's user and account."""
    name = req.command_name
    if not name or name not in REGISTRY:
        raise Unauthorized()
    api_key = paramlib.get_ci(req.raw, "apikey")
    signature = paramlib.get_ci(req.raw, "signature")
    if not api_key or not signature:
        raise Unauthorized()
    version3 = paramlib.get_ci(req.raw, "signatureversion") == "3"
    expires = parse_expires(paramlib.get_ci(req.raw, "expires") or "") if version3 else None
    now = datetime.now(UTC)
    if version3 and (expires is None or expires < now):
        raise Unauthorized()
    if settings.value(db, "enforce.post.requests.and.timestamps") and (
            expires is None or expires > now + EXPIRES_CEILING):
        raise Unauthorized()
    # The caller's user, account, domain and role in one query; held by the session for the
    # rest of the request, so that loading the caller later reads no row again.
    row = db.execute(
        select(User, Account, Domain, Role)
        .join(Account, Account.id == User.account_id)
        .join(Domain, Domain.id == Account.domain_id)
        .outerjoin(Role, Role.id == func.coalesce(Account.role_id, 4))
        .where(User.api_key == api_key, User.removed.is_(None))).first()
    if row is None or row[0].secret_key is None:
        raise Unauthorized()
    hold(db, *row)
    user = row[0]
    found = _enabled_user(db, user.id)
    if found is None or not api_key_access_allowed(db, *found):
        raise Unauthorized()
    secret = state.secrets.decrypt(user.secret_key)
    if not signature_matches(secret, list(req.raw.items()), signature):
        raise Unauthorized()
    return found


def api_key_access_allowed(db: Any, user: User, account: Account) -> bool:
    """ApiServer.verifyApiKeyAccessAllowed: the user's flag, else the account's, else the
    `api.key.access` setting."""
    for flag in (user.api_key_access, account.api_key_access):
        if flag is not None:
            return bool(flag)
    return bool(settings.value(db, "api.key.access", account_id=account.id,
                               domain_id=account.domain_id))


def load_caller(db: Any, state: Any, user_id: int) -> CallContext:
    found = _enabled_user(db, user_id)
    if found is None:
        raise Unauthorized(CREDENTIALS_TEXT)
    user, account = found
    domain = db.get(Domain, account.domain_id)
    role = db.get(Role, account.role_id or 4)
    return CallContext(db=db, state=state, user=user, account=account, domain=domain,
                       role=role, remote_addr=request.remote_addr or "",
                       http_method=request.method)


def run_command(state: Any, req: Request, envelope: str, *, user_id: int | None,
                integration: bool = False) -> Response:
    """Run the command for `user_id`; None: a signed request, whose signature is verified
    first (its failures come before any other) in the same transaction, saving a second
    transaction and the second loading of the caller."""
    job_id = None
    with transaction(state.sessions) as db:
        settings.preload(db, REQUEST_SETTINGS)
        if user_id is None:
            user_id = int(_verified_caller(state, req, db)[0].id)
        name = req.command_name
        if not name:
            raise Unauthorized()
        command: Command | None = REGISTRY.get(name)
        if command is None:
            raise ApiError(UNSUPPORTED_ACTION_ERROR, f"Unknown API command: {name}", 9999,
                           envelope="errorresponse")
        # ApiServer.handleRequest checks values as sent, before ParamUnpackWorker runs.
        paramlib.check_control_chars(req.raw)
        flat, maps = paramlib.unpack(req.raw, name)
        ctx = load_caller(db, state, user_id)
        ctx.command = command
        if not integration:
            acl.check_api_access(ctx, command)
        p = paramlib.parse(db, command, flat, maps, ctx.role_type)
        if command.is_async:
            body, job_id = executor.submit_job(ctx, command, p)
        else:
            body = executor.run_sync(ctx, command, p)
        # Rendered before the commit: an answer that cannot be written changes nothing.
        resp = respond(envelope, body, req.as_json)
        pending = ctx.pending_events
    state.bus.publish(pending)
    if job_id is not None:
        executor.start_job(state, job_id)
    return resp

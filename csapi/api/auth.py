"""`login` and `logout` (DefaultLoginAPIAuthenticatorCmd / DefaultLogoutAPIAuthenticatorCmd)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from sqlalchemy import select

from csapi import events, settings
from csapi.api import params as paramlib
from csapi.api.context import TYPE_ADMIN
from csapi.api.errors import ACCOUNT_ERROR, METHOD_NOT_ALLOWED, ApiError, Unauthorized
from csapi.api.params import UUID_RE
from csapi.api.serialize import SECURITY_HEADERS
from csapi.api.sessions import ApiSession
from csapi.crypto import check_password
from csapi.db import transaction
from csapi.db.models import Account, Domain, User

LOGIN_COMMANDS = ("login", "logout")


def _find_domain(db: Any, raw: dict[str, str]) -> Domain:
    """`domainid` (UUID or numeric id) wins over `domain` (a path; `/` or absent is ROOT)."""
    path = _domain_path(paramlib.get_ci(raw, "domain"))
    domain_id = paramlib.get_ci(raw, "domainid")
    domain: Domain | None
    if domain_id:
        if UUID_RE.match(domain_id):
            domain = db.scalar(select(Domain).where(Domain.uuid == domain_id))
        elif domain_id.isascii() and domain_id.isdigit():
            domain = db.get(Domain, int(domain_id))
        else:
            # DefaultLoginAPIAuthenticatorCmd: neither a known UUID nor a number.
            raise Unauthorized("Invalid domain id entered, please enter a valid one")
        if domain is None and UUID_RE.match(domain_id):
            raise Unauthorized("Invalid domain id entered, please enter a valid one")
    else:
        domain = db.scalar(select(Domain).where(Domain.path == (path or "/")))
    if domain is None or domain.removed is not None:
        shown = "null" if path is None else path  # (Java prints a missing path as null)
        raise ApiError(ACCOUNT_ERROR, f"Unable to find the domain from the path {shown}", None)
    return domain


def _domain_path(value: str | None) -> str | None:
    """Normalised to start and end with `/`; CloudStack's paths omit the ROOT name."""
    if value is None:
        return None
    path = value.strip()
    if not path.endswith("/"):
        path += "/"
    if not path.startswith("/"):
        path = "/" + path
    if path.upper().startswith("/ROOT/"):
        path = path[5:]
    return path


def handle_login(state: Any, req: Any, respond: Callable[..., Response]) -> Response:
    if request.method != "POST":
        return Response("Please use HTTP POST to authenticate using this API",
                        status=METHOD_NOT_ALLOWED, content_type="text/plain; charset=UTF-8",
                        headers=SECURITY_HEADERS)
    # The servlet ends any existing session before it authenticates, even if login fails.
    state.api_sessions.invalidate(request.cookies.get("JSESSIONID"))
    username = paramlib.get_ci(req.raw, "username") or ""
    password = paramlib.get_ci(req.raw, "password") or ""
    pending: list[events.PublishedEvent] = []
    with transaction(state.sessions) as db:
        domain = _find_domain(db, req.raw)
        user, account = _authenticate(db, domain, username, password)
        timeout = settings.value(db, "session.timeout")
        events.record(db, pending, event_type="USER.LOGIN",
                      description=f"user has logged in from IP Address {request.remote_addr}",
                      user=user, account=account, resource_type="User",
                      resource_id=user.id, resource_uuid=user.uuid)
        session = state.api_sessions.create(user.id, timeout)
        body = {
            "username": user.username, "userid": user.uuid, "domainid": domain.uuid,
            "timeout": timeout, "account": account.account_name,
            "firstname": user.firstname, "lastname": user.lastname,
            "type": str(account.type), "timezone": user.timezone, "registered": "false",
            "sessionkey": session.session_key, "is2faenabled": "false",
            "is2faverified": "true", "issuerfor2fa": "CloudStack",
        }
    state.bus.publish(pending)
    resp = respond("loginresponse", body, req.as_json)
    resp.set_cookie("JSESSIONID", session.session_id, path="/client", httponly=True)
    resp.set_cookie("sessionkey", session.session_key, path="/client", httponly=True,
                    samesite="Lax")
    return resp


def _authenticate(db: Any, domain: Domain, username: str, password: str) -> tuple[User, Account]:
    """AccountManagerImpl.authenticateUser: the password first, then the state (so a wrong
    password never reveals that a user is disabled); failures count towards locking."""
    failed = ApiError(
        ACCOUNT_ERROR,
        f"Failed to authenticate user {username} in domain {domain.id}; please provide "
        "valid credentials", None)
    row = db.execute(
        select(User, Account).join(Account, Account.id == User.account_id).where(
            User.username == username, Account.domain_id == domain.id,
            User.removed.is_(None), Account.removed.is_(None))
    ).first()
    if row is None or not username or row[0].id == 1:
        raise failed
    user, account = row
    internal = account.type == TYPE_ADMIN  # admin accounts are never locked out
    if not check_password(password, user.password):
        if not internal and user.state == "enabled":
            _count_failure(db, user)
        raise failed
    if user.state != "enabled" or account.state != "enabled":
        raise ApiError(ACCOUNT_ERROR, f"User {username} (or their account) in domain "
                       f"{domain.name} is disabled/locked. Please contact the "
                       "administrator.", None)
    if not internal:
        user.login_attempts = 0
    return user, account


def _count_failure(db: Any, user: User) -> None:
    """The failure is committed although the login answers an error."""
    allowed = settings.value(db, "incorrect.login.attempts.allowed")
    attempts = (user.login_attempts or 0) + 1
    if allowed <= 0:
        return
    if attempts < allowed:
        user.login_attempts = attempts
    else:
        user.login_attempts = allowed
        user.state = "locked"
    db.commit()


def handle_logout(state: Any, req: Any, session: ApiSession | None,
                  respond: Callable[..., Response]) -> Response:
    """Always "success" (DefaultLogoutAPIAuthenticatorCmd); ends the session if there is one
    and expires every cookie the client sent."""
    pending: list[events.PublishedEvent] = []
    if session is not None:
        with transaction(state.sessions) as db:
            user = db.get(User, session.user_id)
            account = db.get(Account, user.account_id) if user else None
            if user is not None and account is not None:
                events.record(db, pending, event_type="USER.LOGOUT",
                              description="user has logged out", user=user, account=account,
                              resource_type="User", resource_id=user.id,
                              resource_uuid=user.uuid)
        state.api_sessions.invalidate(session.session_id)
    state.bus.publish(pending)
    resp = respond("logoutresponse", {"description": "success"}, req.as_json)
    for name in request.cookies:
        resp.set_cookie(name, "", max_age=0, path="/client")
    return resp

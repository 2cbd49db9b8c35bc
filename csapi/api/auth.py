"""`login` and `logout` (DefaultLoginAPIAuthenticatorCmd / DefaultLogoutAPIAuthenticatorCmd)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from sqlalchemy import select

from csapi import events, settings
from csapi.api import params as paramlib
from csapi.api.errors import ACCOUNT_ERROR, METHOD_NOT_ALLOWED, ApiError, Unauthorized
from csapi.api.params import UUID_RE
from csapi.api.sessions import ApiSession
from csapi.crypto import check_password
from csapi.db import transaction
from csapi.db.models import Account, Domain, User

LOGIN_COMMANDS = ("login", "logout")


def _find_domain(db: Any, raw: dict[str, str]) -> Domain:
    domain_id = raw.get("domainid") or paramlib.get_ci(raw, "domainid")
    if domain_id:
        if UUID_RE.match(domain_id):
            domain = db.scalar(select(Domain).where(Domain.uuid == domain_id))
        elif domain_id.isdigit():
            domain = db.get(Domain, int(domain_id))
        else:
            domain = None
        if domain is None or domain.removed is not None:
            raise Unauthorized("Invalid domain id entered, please enter a valid one")
        return domain
    path = paramlib.get_ci(raw, "domain") or "/"
    path = path.strip()
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    # CloudStack paths are stored without the leading ROOT name.
    if path.upper().startswith("/ROOT/"):
        path = path[5:]
    domain = db.scalar(select(Domain).where(Domain.path == path, Domain.removed.is_(None)))
    if domain is None:
        raise ApiError(ACCOUNT_ERROR, f"Unable to find the domain from the path {path}", None)
    return domain


def handle_login(state: Any, req: Any, respond: Callable[..., Response]) -> Response:
    if request.method != "POST":
        return Response("Please use HTTP POST to authenticate using this API",
                        status=METHOD_NOT_ALLOWED, content_type="text/plain; charset=UTF-8")
    username = paramlib.get_ci(req.raw, "username") or ""
    password = paramlib.get_ci(req.raw, "password") or ""
    pending: list[events.PublishedEvent] = []
    with transaction(state.sessions) as db:
        domain = _find_domain(db, req.raw)
        failed = ApiError(
            ACCOUNT_ERROR,
            f"Failed to authenticate user {username} in domain {domain.id}; please provide "
            "valid credentials", None)
        row = db.execute(
            select(User, Account).join(Account, Account.id == User.account_id).where(
                User.username == username, Account.domain_id == domain.id,
                User.removed.is_(None), Account.removed.is_(None))
        ).first()
        if row is None or not username or not password or row[0].id == 1:
            raise failed
        user, account = row
        if user.state != "enabled" or account.state != "enabled":
            raise ApiError(ACCOUNT_ERROR, f"User {username} (or their account) in domain "
                           f"{domain.name} is disabled/locked. Please contact the "
                           "administrator.", None)
        if not check_password(password, user.password):
            user.login_attempts = (user.login_attempts or 0) + 1
            if user.login_attempts >= settings.value(db, "incorrect.login.attempts.allowed"):
                user.state = "locked"
            db.commit()
            raise failed
        user.login_attempts = 0
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
    state.api_sessions.invalidate(request.cookies.get("JSESSIONID"))
    resp.set_cookie("JSESSIONID", session.session_id, path="/client", httponly=True)
    resp.set_cookie("sessionkey", session.session_key, path="/client", httponly=True,
                    samesite="Lax")
    return resp


def handle_logout(state: Any, req: Any, session: ApiSession | None,
                  respond: Callable[..., Response]) -> Response:
    if session is None:
        raise Unauthorized()
    pending: list[events.PublishedEvent] = []
    with transaction(state.sessions) as db:
        user = db.get(User, session.user_id)
        account = db.get(Account, user.account_id) if user else None
        if user is not None and account is not None:
            events.record(db, pending, event_type="USER.LOGOUT",
                          description="user has logged out", user=user, account=account,
                          resource_type="User", resource_id=user.id, resource_uuid=user.uuid)
    state.api_sessions.invalidate(session.session_id)
    state.bus.publish(pending)
    resp = respond("logoutresponse", {"description": "success"}, req.as_json)
    for name in request.cookies:
        resp.set_cookie(name, "", max_age=0, path="/client")
    return resp

"""Login sessions: a JSESSIONID cookie plus a session key that must come back both as the
`sessionkey` cookie and as the `sessionkey` parameter (CookieAndParameter, CloudStack's
default). Sessions live in the memory of the management server that created them, as in
CloudStack; every request re-reads the user so disabling or deleting it ends them at once."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass


@dataclass
class ApiSession:
    session_id: str
    session_key: str
    user_id: int
    timeout: int
    last_access: float

    def expired(self, now: float) -> bool:
        return now - self.last_access > self.timeout


class SessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, ApiSession] = {}
        self._lock = threading.Lock()

    def create(self, user_id: int, timeout: int) -> ApiSession:
        # Jetty-like id "node0<random>.node0"; the key is URL-safe Base64 of 20 random bytes.
        session_id = "node0" + secrets.token_hex(12) + ".node0"
        key = base64.urlsafe_b64encode(secrets.token_bytes(20)).decode().rstrip("=")
        session = ApiSession(session_id, key, user_id, timeout, time.monotonic())
        with self._lock:
            self._purge_locked()
            self._sessions[session_id] = session
        return session

    def get(self, session_id: str | None) -> ApiSession | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expired(now):
                del self._sessions[session_id]
                return None
            session.last_access = now
            return session

    def invalidate(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def _purge_locked(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if v.expired(now)]:
            del self._sessions[sid]

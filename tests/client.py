"""A signing CloudStack API client over Flask's test client, for in-process tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from csapi.api.signing import compute_signature
from csapi.crypto import new_api_key
from csapi.db import transaction
from csapi.db.models import User


def make_keys(state: Any, user_id: int) -> tuple[str, str]:
    """Give a user API keys directly in the database (as registerUserKeys would)."""
    api_key, secret = new_api_key(), new_api_key()
    with transaction(state.sessions) as db:
        user = db.get(User, user_id)
        user.api_key = api_key
        user.secret_key = state.secrets.encrypt(secret)
    return api_key, secret


@dataclass
class Result:
    status: int
    body: dict[str, Any]  # the object inside the single `...response` key (JSON only)
    envelope: str
    text: str
    headers: Any

    @property
    def error(self) -> str | None:
        return self.body.get("errortext")


class ApiClient:
    def __init__(self, test_client: Any, api_key: str | None = None,
                 secret: str | None = None) -> None:
        self.http = test_client
        self.api_key = api_key
        self.secret = secret

    def signed_query(self, command: str, params: dict[str, Any]) -> str:
        pairs = [("command", command), ("response", "json")]
        pairs += [(k, _text(v)) for k, v in params.items() if v is not None]
        if self.api_key:
            pairs.append(("apiKey", self.api_key))
            assert self.secret is not None
            pairs.append(("signature", compute_signature(self.secret, pairs)))
        return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in pairs)

    def call(self, command: str, *, method: str = "GET", **params: Any) -> Result:
        query = self.signed_query(command, params)
        if method == "POST":
            resp = self.http.post("/client/api", data=query,
                                  content_type="application/x-www-form-urlencoded")
        else:
            resp = self.http.get("/client/api?" + query)
        text = resp.get_data(as_text=True)
        data = json.loads(text)
        assert len(data) == 1, data
        envelope, body = next(iter(data.items()))
        return Result(resp.status_code, body, envelope, text, resp.headers)

    def ok(self, command: str, **params: Any) -> dict[str, Any]:
        """Call and insist on success; returns the inner body."""
        res = self.call(command, **params)
        assert res.status == 200, (command, res.status, res.body)
        return res.body

    def fails(self, command: str, code: int, text: str | None = None,
              **params: Any) -> Result:
        res = self.call(command, **params)
        assert res.status == code, (command, res.status, res.body)
        assert res.body.get("errorcode") == code, res.body
        if text is not None:
            assert res.body.get("errortext") == text, res.body.get("errortext")
        return res


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

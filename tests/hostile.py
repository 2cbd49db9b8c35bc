"""Shared by the hostile-input suites (fuzz, auth attacks, isolation, SSRF, secrets): signed raw
requests with any parameter names (repeated, case-twisted, bracketed), CloudStack envelope
checks for JSON and XML, and cheap database fingerprints for "a refused call wrote nothing"."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import text

from csapi.db import transaction
from csapi.db.models import Base
from tests.wire import sign

# The codes CloudStack's ApiErrorCode (plus the transport's 400/405/413/414) may answer.
ERROR_CODES = frozenset({400, 401, 405, 413, 414, 430, 431, 432, 530, 531, 534, 535, 536})
# What the servlet answers when a handler raised something unexpected: always a bug here.
GENERIC_530 = "Internal error executing command, please contact your system administrator"
JSON_TYPE = "application/json; charset=UTF-8"
XML_TYPE = "text/xml; charset=UTF-8"

Pairs = Sequence[tuple[str, str]]


@dataclass
class Answer:
    status: int
    fmt: str  # "json" or "xml"
    envelope: str
    errorcode: int | None
    errortext: str | None
    body: Any  # the dict inside the envelope (JSON) or the root element (XML)
    text: str
    headers: Any = field(repr=False, default=None)

    @property
    def ok(self) -> bool:
        return self.status == 200


def merged(method: str, pairs: Pairs) -> dict[str, str]:
    """The servlet's parameter map for pairs sent all in the query (the last duplicate wins)
    or all in a form body (the first one wins)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        if method == "GET":
            out[name] = value
        else:
            out.setdefault(name, value)
    return out


def encode(pairs: Pairs) -> str:
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in pairs)


def signed_pairs(method: str, command: str | None, params: Pairs, api_key: str | None,
                 secret: str | None, fmt: str | None) -> list[tuple[str, str]]:
    """`params` as sent (duplicates kept), plus command/response/apiKey and the signature the
    server will recompute from its merged parameter map."""
    pairs: list[tuple[str, str]] = []
    if command is not None:
        pairs.append(("command", command))
    pairs += list(params)
    if fmt is not None:
        pairs.append(("response", fmt))
    if api_key is not None and secret is not None:
        pairs.append(("apiKey", api_key))
        pairs.append(("signature", sign(secret, list(merged(method, pairs).items()))))
    return pairs


def send(http: Any, method: str, pairs: Pairs) -> Any:
    """GET with everything in the query, or POST with everything in a form body."""
    data = encode(pairs)
    if method == "GET":
        return http.get("/client/api?" + data)
    return http.post("/client/api", data=data,
                     content_type="application/x-www-form-urlencoded")


def call(http: Any, method: str, command: str | None, params: Pairs, *, api_key: str | None,
         secret: str | None, fmt: str | None = "json") -> Answer:
    resp = send(http, method, signed_pairs(method, command, params, api_key, secret, fmt))
    return check_envelope(resp, "json" if fmt == "json" else "xml")


def check_envelope(resp: Any, fmt: str) -> Answer:
    """Assert CloudStack's envelope (never HTML, never a traceback, never a bare 500) and
    return what it says."""
    status = resp.status_code
    raw = resp.get_data(as_text=True)
    ctype = resp.headers.get("Content-Type")
    where = f"HTTP {status} {ctype}: {raw[:300]!r}"
    for name, value in resp.headers.items():
        assert "\r" not in value and "\n" not in value, (name, value)
        assert name.lower() != "x-injected", where
    assert "Traceback (most recent call last)" not in raw, where
    assert status == 200 or status in ERROR_CODES, where
    if fmt == "json":
        assert ctype == JSON_TYPE, where
        data = json.loads(raw)
        assert isinstance(data, dict) and len(data) == 1, where
        envelope, body = next(iter(data.items()))
        assert envelope.endswith("response") and isinstance(body, dict), where
        code, errtext = body.get("errorcode"), body.get("errortext")
    else:
        assert ctype == XML_TYPE, where
        assert raw.startswith('<?xml version="1.0" encoding="UTF-8"?>'), where
        body = ET.fromstring(raw.encode("utf-8"))  # well-formed or it raises
        envelope = body.tag
        assert envelope.endswith("response"), where
        code_text = body.findtext("errorcode")
        code = int(code_text) if code_text is not None else None
        errtext = body.findtext("errortext")
    if status != 200:
        assert code == status, where
        assert isinstance(errtext, str) and errtext, where
        assert not (status == 530 and errtext == GENERIC_530), (
            "an unhandled exception answered the generic 530: " + where)
    return Answer(status, fmt, envelope, code, errtext, body, raw, resp.headers)


# --- database fingerprints ------------------------------------------------------------------

TABLES = tuple(t.name for t in Base.metadata.sorted_tables)


def _quote(state: Any, name: str) -> str:
    return str(state.engine.dialect.identifier_preparer.quote(name))


def table_counts(state: Any) -> dict[str, int]:
    """Row count of every table, in one round trip."""
    sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {_quote(state, t)}" for t in TABLES)
    with state.engine.connect() as conn:
        return {name: int(n) for name, n in conn.execute(text(sql))}


def table_digest(state: Any, tables: Sequence[str] = TABLES,
                 columns: dict[str, str] | None = None) -> dict[str, str]:
    """A hash of every row of each table (order-independent), to catch half-written updates
    that leave the row counts alone. `columns` narrows what is read of some tables."""
    out: dict[str, str] = {}
    with transaction(state.sessions) as db:
        for t in tables:
            what = (columns or {}).get(t, "*")
            result = db.execute(text(f"SELECT {what} FROM {_quote(state, t)}"))
            rows = sorted(repr(tuple(r)) for r in result)
            out[t] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return out


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {t: (before.get(t), after.get(t)) for t in set(before) | set(after)
            if before.get(t) != after.get(t)}


def ed25519_key(seed: str) -> str:
    """A well-formed OpenSSH ed25519 public key, different for every seed."""
    blob = (b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"
            + hashlib.sha256(seed.encode()).digest())
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def add_row(db: Any, model: type, **values: Any) -> Any:
    """Insert one row with a fresh uuid and flush it (the worlds the fuzz and isolation
    tests build directly in the database)."""
    row = model(uuid=str(uuid.uuid4()), **values)
    db.add(row)
    db.flush()
    return row

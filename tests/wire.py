"""Wire-level helpers for protocol tests, written independently of csapi's own code so that
tests do not check the server against itself: a reference Java URLEncoder and signer, raw
query strings, and a comparison of CloudStack's XML with its JSON."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

Pairs = Sequence[tuple[str, str]]
CREDENTIALS = "unable to verify user credentials and/or request signature"
JSON_TYPE = "application/json; charset=UTF-8"
XML_TYPE = "text/xml; charset=UTF-8"

_JAVA_ESCAPED = re.compile(rb"[^A-Za-z0-9.*_-]")


def java_encode(value: str) -> str:
    """java.net.URLEncoder.encode(value, "UTF-8") with '+' turned into %20: every UTF-8 byte
    outside A-Z a-z 0-9 . - * _ becomes %XX (upper-case hex), a space %20."""
    encoded = _JAVA_ESCAPED.sub(lambda m: b"%%%02X" % m.group()[0], value.encode("utf-8"))
    return encoded.decode("ascii")


def go_encode(value: str) -> str:
    """cmk / cloudstack-go: url.QueryEscape, '+' -> %20, %2A -> '*' (Python: quote, safe '*')."""
    return quote(value, safe="*")


def canonical(pairs: Pairs, encode: Callable[[str], str] = java_encode,
              sort_key: Callable[[tuple[str, str]], Any] | None = None) -> str:
    items = [(k, v) for k, v in pairs if k.lower() != "signature"]
    items.sort(key=sort_key)
    return "&".join(f"{k}={encode(v)}" for k, v in items).lower()


def sign(secret: str, pairs: Pairs, encode: Callable[[str], str] = java_encode,
         sort_key: Callable[[tuple[str, str]], Any] | None = None) -> str:
    text = canonical(pairs, encode, sort_key)
    return base64.b64encode(
        hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()).decode()


def query(pairs: Pairs) -> str:
    """A query string exactly as given (names keep brackets raw, values fully escaped)."""
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in pairs)


def signed(api_key: str, secret: str, command: str, params: Pairs = (), *,
           encode: Callable[[str], str] = java_encode, response: str | None = "json",
           sort_key: Callable[[tuple[str, str]], Any] | None = None) -> list[tuple[str, str]]:
    pairs = [("command", command), *params, ("apiKey", api_key)]
    if response is not None:
        pairs.append(("response", response))
    return [*pairs, ("signature", sign(secret, pairs, encode, sort_key))]


def expires_in(seconds: int, fmt: str = "%Y-%m-%dT%H:%M:%S%z") -> str:
    """A signatureVersion=3 `expires` value, cs style by default (`+0000`)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime(fmt)


# --- XML vs JSON ------------------------------------------------------------------------

def xml_matches_json(xml_text: str, json_text: str) -> None:
    """Assert that CloudStack's XML rendering carries exactly the JSON rendering's data:
    same root, same children in the same order; lists repeat their element, empty lists and
    an empty uuidList vanish, scalars are their JSON text (booleans true/false)."""
    assert xml_text.startswith('<?xml version="1.0" encoding="UTF-8"?><'), xml_text[:80]
    root = ET.fromstring(xml_text.encode("utf-8"))
    data = json.loads(json_text)
    assert list(data) == [root.tag], (list(data), root.tag)
    assert root.attrib == {"cloud-stack-version": root.attrib.get("cloud-stack-version")}
    _compare_children(root, data[root.tag], root.tag)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _expected_children(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in obj.items():
        if isinstance(value, list):
            out.extend((key, item) for item in value)
        else:
            out.append((key, value))
    return out


def _compare_children(elem: ET.Element, obj: dict[str, Any], where: str) -> None:
    expected = _expected_children(obj)
    children = list(elem)
    assert [c.tag for c in children] == [k for k, _ in expected], (
        where, [c.tag for c in children], [k for k, _ in expected])
    for child, (key, value) in zip(children, expected, strict=True):
        here = f"{where}/{key}"
        if isinstance(value, dict):
            assert (child.text or "") == "", here
            _compare_children(child, value, here)
        else:
            assert list(child) == [], here
            assert (child.text or "") == _scalar(value), (here, child.text, value)

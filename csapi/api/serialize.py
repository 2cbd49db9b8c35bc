"""One response tree, two wire formats: JSON (`response=json`) and CloudStack's default XML."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from csapi.api.registry import format_date

CLOUDSTACK_VERSION = "4.20.0.0"
JSON_TYPE = "application/json; charset=UTF-8"
XML_TYPE = "text/xml; charset=UTF-8"
# HttpUtils.addSecurityHeaders, on every answer of the API servlet (one valid CSP here).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1;mode=block",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_date(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(envelope: str, body: dict[str, Any]) -> str:
    # Gson's HTML escaping is undone by CloudStack: <, >, &, =, ' appear raw.
    return json.dumps({envelope: _plain(body)}, ensure_ascii=False, separators=(",", ":"))


# Characters XML 1.0 cannot carry at all (stored data such as a receiver's response body may
# hold them); they are replaced so the document stays well-formed.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_date(value)
    text = _XML_INVALID.sub("\ufffd", str(value))
    return escape(text, {'"': "&quot;", "'": "&apos;"})


def _xml_value(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, list | tuple):
        for item in value:
            _xml_value(name, item, out)
        return
    out.append(f"<{name}>")
    if isinstance(value, dict):
        for key, sub in value.items():
            _xml_value(key, sub, out)
    else:
        out.append(_xml_scalar(value))
    out.append(f"</{name}>")


def to_xml(envelope: str, body: dict[str, Any]) -> str:
    out = [f'<?xml version="1.0" encoding="UTF-8"?><{envelope} '
           f'cloud-stack-version="{CLOUDSTACK_VERSION}">']
    for key, value in body.items():
        if key == "uuidList":
            if value:
                _xml_value("uuidList", value, out)
            continue
        _xml_value(key, value, out)
    out.append(f"</{envelope}>")
    return "".join(out)


def render(envelope: str, body: dict[str, Any], as_json: bool) -> tuple[str, str]:
    """(text, content type) of a response body in the requested format."""
    if as_json:
        return to_json(envelope, body), JSON_TYPE
    return to_xml(envelope, body), XML_TYPE

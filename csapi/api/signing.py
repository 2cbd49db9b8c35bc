"""Request signatures exactly as CloudStack's ApiServer.verifyRequest computes them.

Raw parameter names sorted case-sensitively, values encoded with Java's URLEncoder rules (space
as %20), the whole string lower-cased, HMAC-SHA1 with the secret key, standard Base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timezone
from urllib.parse import quote

# Java URLEncoder leaves only these unencoded (and space becomes '+', which CloudStack
# then rewrites to %20).
_JAVA_SAFE = "-_.*"


def java_url_encode(value: str) -> str:
    # Python always leaves '~' unencoded; Java encodes it.
    return quote(value, safe=_JAVA_SAFE).replace("~", "%7E")


def canonical_string(params: list[tuple[str, str]]) -> str:
    """`params` are (raw name, decoded value) pairs; `signature` is left out."""
    pairs = sorted(
        (name, value) for name, value in params if name.lower() != "signature"
    )
    return "&".join(f"{name}={java_url_encode(value)}" for name, value in pairs).lower()


def compute_signature(secret: str, params: list[tuple[str, str]]) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), canonical_string(params).encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(secret: str, params: list[tuple[str, str]], signature: str) -> bool:
    expected = compute_signature(secret, params)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


_EXPIRES = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?"
    r"(Z|[+-]\d{2}:?\d{2}|Z[+-]\d{4})$"
)


def parse_expires(value: str) -> datetime | None:
    """DateUtil.parseTZDateString: ISO-8601 with Z, +hh:mm or +hhmm offsets, optional
    fractional seconds, and the legacy `...Z+0000` form. None when unparseable."""
    m = _EXPIRES.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    if offset.startswith("Z") and len(offset) > 1:
        offset = offset[1:]  # legacy 'Z+0000': the explicit offset wins
    if offset == "Z":
        delta_minutes = 0
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta_minutes = sign * (int(digits[:2]) * 60 + int(digits[2:]))
    try:
        from datetime import timedelta

        tz = timezone(timedelta(minutes=delta_minutes))
        micro = int((frac or "0").ljust(6, "0"))
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
            tzinfo=tz,
        )
    except ValueError:
        return None

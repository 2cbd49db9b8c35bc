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


def client_strings(params: list[tuple[str, str]]) -> list[str]:
    """The strings real clients sign where their encoders differ from Java's URLEncoder: cs,
    cmk, cloudstack-go and Marvin leave `~` raw, libcloud also `[` and `]`. Accepting these
    only widens the encoding of the same values; the order stays CloudStack's (raw names,
    case-sensitive), so a request sorted any other way is still refused."""
    ordered = sorted((n, v) for n, v in params if n.lower() != "signature")
    return ["&".join(f"{n}={quote(v, safe=safe)}" for n, v in ordered).lower()
            for safe in ("-_.*~", "-_.*~[]")]


def compute_signature(secret: str, params: list[tuple[str, str]]) -> str:
    return _sign(secret, canonical_string(params))


def _sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(secret: str, params: list[tuple[str, str]], signature: str) -> bool:
    """Java's canonical string first; then the client variants, when a value holds one of the
    characters the encoders disagree on (the request's content, not a secret, decides)."""
    given = signature.encode("utf-8", "replace")
    candidates = [canonical_string(params)]
    if any(c in v for _, v in params for c in "~[]"):
        candidates += [s for s in client_strings(params) if s not in candidates]
    # Every candidate is compared, so timing does not tell which one matched.
    results = [hmac.compare_digest(_sign(secret, text).encode(), given) for text in candidates]
    return any(results)


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

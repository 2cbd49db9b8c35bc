"""Destination policy for webhook deliveries (SSRF protection).

CloudStack's hardened delivery path (``WebhookUrlValidator``) checks a payload URL before every
attempt: the scheme, the host, and **every** address the host resolves to. We do the same and hand
the caller the checked addresses, so the sender connects to exactly those (no second DNS lookup,
hence no DNS rebinding between check and connect).

Numeric IPv4 spellings that ``inet_aton``/``getaddrinfo`` accept (``2130706433``, ``0x7f.0.0.1``,
``0177.0.0.1``, ``127.1``) are decoded here, so they are checked as the address they really reach
and never depend on what a resolver makes of them. IPv4-mapped IPv6 addresses
(``::ffff:169.254.169.254``) are checked in both forms and connected to as IPv4.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A resolver takes (host, port) and returns address strings or ipaddress objects.
Resolver = Callable[[str, int], Iterable[str | IPAddress]]

DEFAULT_BLOCKLIST = "0.0.0.0/8,169.254.0.0/16,224.0.0.0/4,240.0.0.0/4,fe80::/10,ff00::/8"
DEFAULT_PORTS = {"http": 80, "https": 443}


class DestinationError(Exception):
    """A payload URL the policy refuses; ``str(exc)`` is the user-facing CloudStack text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalize_payload_url(url: str) -> str:
    """CloudStack's rule: prefix ``http://`` unless the URL starts with the exact lower-case
    ``http://`` or ``https://`` (so ``HTTPS://x`` becomes ``http://HTTPS://x``)."""
    if url.startswith(("http://", "https://")):
        return url
    return "http://" + url


def parse_blocklist(text: str) -> tuple[IPNetwork, ...]:
    """Parse ``webhook.delivery.blocklist``: comma separated CIDRs, blanks ignored.

    Host bits are tolerated (``10.0.0.1/8`` means ``10.0.0.0/8``) and a bare address is a single
    host network; anything else raises ValueError with a message fit for the API error.
    """
    networks: list[IPNetwork] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"Invalid CIDR [{entry}] in webhook delivery blocklist, "
                "expected a comma separated list such as 169.254.0.0/16,fe80::/10"
            ) from None
    return tuple(networks)


DEFAULT_BLOCKLIST_NETWORKS = parse_blocklist(DEFAULT_BLOCKLIST)


@dataclass(frozen=True)
class DestinationPolicy:
    """The four ``webhook.delivery.*`` policy settings, already parsed."""

    allow_http: bool = True
    allow_redirects: bool = False
    blocklist: tuple[IPNetwork, ...] = DEFAULT_BLOCKLIST_NETWORKS
    block_local_addresses: bool = False

    @classmethod
    def from_settings(
        cls,
        *,
        allow_http: bool,
        allow_redirects: bool,
        blocklist: str,
        block_local_addresses: bool,
    ) -> DestinationPolicy:
        return cls(allow_http, allow_redirects, parse_blocklist(blocklist), block_local_addresses)


@dataclass(frozen=True)
class Destination:
    """A checked payload URL: where to connect and what to say once connected."""

    url: str
    scheme: str
    host: str  # as written in the URL (lower-cased by URL parsing, IPv6 without brackets)
    port: int
    path: str  # path and query, never empty
    # checked, IPv4-mapped ones as IPv4, in resolver order: connect to these only
    addresses: list[IPAddress] = field(default_factory=list, hash=False)

    @property
    def ascii_host(self) -> str:
        """The host for the Host header, SNI and certificate checks (IDNA-encoded)."""
        return _ascii_host(self.host)

    @property
    def host_header(self) -> str:
        host = self.ascii_host
        if ":" in host:
            host = f"[{host}]"
        if self.port != DEFAULT_PORTS[self.scheme]:
            host = f"{host}:{self.port}"
        return host


def system_resolve(host: str, port: int) -> list[str]:
    """Resolve with the system resolver (gevent's when monkey-patched)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_destination(
    url: str, policy: DestinationPolicy, resolve: Resolver = system_resolve
) -> Destination:
    """Check ``url`` against ``policy`` and return where it may be delivered.

    Raises DestinationError with the hardened CloudStack text when the URL is refused.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname
    except ValueError:
        raise DestinationError(f"Invalid URL: {url}") from None
    if scheme == "http":
        if not policy.allow_http:
            raise DestinationError(f"Only HTTPS webhook payload URLs are allowed, got: {url}")
    elif scheme != "https":
        raise DestinationError(
            f"Unsupported URL scheme [{scheme}], only HTTP/HTTPS are supported"
        )
    if not host:
        raise DestinationError(f"Invalid webhook payload URL host in [{url}]")
    try:
        port = parts.port if parts.port is not None else DEFAULT_PORTS[scheme]
        if port == 0:
            raise ValueError("port 0")
        ascii_host = _ascii_host(host)
        literal = _ip_literal(ascii_host)
    except ValueError:
        raise DestinationError(f"Invalid URL: {url}") from None

    if literal is not None:
        found: list[IPAddress] = [literal]
    else:
        try:
            found = [ipaddress.ip_address(str(a)) for a in resolve(ascii_host, port)]
        except (OSError, UnicodeError, ValueError):
            found = []
        if not found:  # fail closed: an empty answer is not "nothing to block"
            raise DestinationError(f"Failed to resolve webhook payload URL host [{host}]")

    addresses: list[IPAddress] = []
    for address in found:
        if _is_blocked(address, policy):
            raise DestinationError(f"Webhook payload URL [{url}] resolves to a blocked IP address")
        target = _unmapped(address)
        if target not in addresses:
            addresses.append(target)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Destination(url, scheme, host, port, path, addresses)


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(str(exc)) from None


# One dotted part of an inet_aton-style IPv4 address: hex, octal or decimal.
_NUMERIC_PART = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


def _ip_literal(host: str) -> IPAddress | None:
    """The address an IP-literal host really reaches, or None for a name to resolve.

    Accepts every IPv4 form ``inet_aton`` does (1 to 4 parts, each hex/octal/decimal, the last
    part filling the remaining bytes). A host made only of numeric parts that is not a valid
    address raises ValueError: it must never fall through to DNS.
    """
    if ":" in host:
        return ipaddress.ip_address(host)
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not all(_NUMERIC_PART.fullmatch(label) for label in labels):
        return None
    if len(labels) > 4:
        raise ValueError(f"not an IPv4 address: {host}")
    numbers = []
    for label in labels:
        if label[:2] in ("0x", "0X"):
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            numbers.append(int(label, 8))  # ValueError for 08, 09
        else:
            numbers.append(int(label))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"not an IPv4 address: {host}")
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (5 - len(numbers)) + last
    return ipaddress.IPv4Address(value)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_blocked(address: IPAddress, policy: DestinationPolicy) -> bool:
    # Check the address as resolved and its IPv4 form, so both 169.254.0.0/16 and an
    # IPv6 entry such as ::ffff:0:0/96 catch ::ffff:169.254.169.254.
    forms = {address, _unmapped(address)}
    for form in forms:
        if any(form in network for network in policy.blocklist):
            return True
        if policy.block_local_addresses and (
            form.is_unspecified
            or form.is_loopback
            or form.is_link_local
            or form in _local_addresses()
        ):
            return True
    return False


_LOCAL_TTL = 60.0
_local_lock = threading.Lock()
_local_cache: tuple[float, frozenset[IPAddress]] = (float("-inf"), frozenset())


def _local_addresses() -> frozenset[IPAddress]:
    """Best effort set of this machine's addresses (cached for a minute: interfaces rarely
    change and resolving our own host name on every attempt would be wasteful)."""
    global _local_cache
    with _local_lock:
        stamp, cached = _local_cache
        if time.monotonic() - stamp < _LOCAL_TTL:
            return cached
        found: set[IPAddress] = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
        try:
            for info in socket.getaddrinfo(socket.gethostname(), None):
                found.add(_unmapped(ipaddress.ip_address(str(info[4][0]).split("%")[0])))
        except (OSError, UnicodeError, ValueError):
            pass
        _local_cache = (time.monotonic(), frozenset(found))
        return _local_cache[1]

"""Destination policy: URL normalisation, blocklist parsing and every refusal text."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Iterable

import pytest

from csapi.webhooks.policy import (
    DEFAULT_BLOCKLIST,
    DestinationError,
    DestinationPolicy,
    check_destination,
    normalize_payload_url,
    parse_blocklist,
    system_resolve,
)

IP = ipaddress.ip_address
DEFAULT = DestinationPolicy()
WITH_LOOPBACK = DestinationPolicy(blocklist=parse_blocklist(DEFAULT_BLOCKLIST + ",127.0.0.0/8"))
OPEN = DestinationPolicy(blocklist=())


def fixed(*answers: str):
    """A resolver that always answers ``answers`` and records its calls."""
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> Iterable[str]:
        calls.append((host, port))
        return list(answers)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def no_dns(host: str, port: int) -> Iterable[str]:
    raise AssertionError(f"IP literal {host!r} must not be resolved")


def refused(url: str, policy: DestinationPolicy = DEFAULT, resolve=no_dns) -> str:
    with pytest.raises(DestinationError) as info:
        check_destination(url, policy, resolve)
    assert str(info.value) == info.value.message
    return info.value.message


# --- normalisation ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("abc.com", "http://abc.com"),
        ("http://abc.com/x", "http://abc.com/x"),
        ("https://abc.com", "https://abc.com"),
        ("HTTPS://x", "http://HTTPS://x"),
        ("Http://x", "http://Http://x"),
        ("ftp://x", "http://ftp://x"),
        ("10.0.0.1:8080/hook", "http://10.0.0.1:8080/hook"),
        ("", "http://"),
    ],
)
def test_normalize_payload_url(given: str, expected: str) -> None:
    assert normalize_payload_url(given) == expected


# --- blocklist parsing --------------------------------------------------------------------------

def test_parse_blocklist_trims_and_skips_empty_entries() -> None:
    parsed = parse_blocklist(" 127.0.0.0/8, ::1/128 ,, 192.168.0.0/16 ")
    assert parsed == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("192.168.0.0/16"),
    )


def test_parse_blocklist_bare_address_and_host_bits() -> None:
    assert parse_blocklist("1.2.3.4") == (ipaddress.ip_network("1.2.3.4/32"),)
    assert parse_blocklist("10.9.8.7/8") == (ipaddress.ip_network("10.0.0.0/8"),)
    assert parse_blocklist("") == ()
    assert parse_blocklist(" , ") == ()


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "not-a-cidr", "1.2.3.4/8/8", "::1/129", "1.2.3"])
def test_parse_blocklist_rejects_invalid_cidr(bad: str) -> None:
    with pytest.raises(ValueError, match=r"Invalid CIDR \[") as info:
        parse_blocklist(f"127.0.0.0/8, {bad}")
    assert bad in str(info.value)


def test_default_policy() -> None:
    assert DEFAULT.allow_http is True
    assert DEFAULT.allow_redirects is False
    assert DEFAULT.block_local_addresses is False
    assert [str(n) for n in DEFAULT.blocklist] == DEFAULT_BLOCKLIST.split(",")
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.allow_http = False  # type: ignore[misc]


def test_policy_from_settings() -> None:
    policy = DestinationPolicy.from_settings(
        allow_http=False, allow_redirects=True, blocklist="1.2.3.4/32", block_local_addresses=True
    )
    assert policy == DestinationPolicy(False, True, (ipaddress.ip_network("1.2.3.4/32"),), True)
    with pytest.raises(ValueError):
        DestinationPolicy.from_settings(
            allow_http=True, allow_redirects=False, blocklist="x", block_local_addresses=False
        )


# --- scheme, host and syntax texts --------------------------------------------------------------

def test_https_only_policy() -> None:
    https_only = DestinationPolicy(allow_http=False)
    assert refused("http://hooks.example/x", https_only) == (
        "Only HTTPS webhook payload URLs are allowed, got: http://hooks.example/x"
    )
    dest = check_destination("https://hooks.example/x", https_only, fixed("203.0.113.5"))
    assert dest.scheme == "https" and dest.port == 443


@pytest.mark.parametrize("policy", [DEFAULT, DestinationPolicy(allow_http=False)])
@pytest.mark.parametrize(("url", "scheme"), [("ftp://x/", "ftp"), ("file:///etc/passwd", "file"),
                                             ("gopher://x:70/", "gopher"), ("abc.com", "")])
def test_unsupported_scheme(url: str, scheme: str, policy: DestinationPolicy) -> None:
    assert refused(url, policy) == (
        f"Unsupported URL scheme [{scheme}], only HTTP/HTTPS are supported"
    )


@pytest.mark.parametrize("url", ["http://", "http:///path", "http://:8080/x", "https://?q=1",
                                 "http://user@/x"])
def test_missing_host(url: str) -> None:
    assert refused(url) == f"Invalid webhook payload URL host in [{url}]"


@pytest.mark.parametrize(
    "url",
    ["http://x:99999/", "http://x:abc/", "http://x:0/", "http://[::1/", "http://[zz::1]/",
     "http://1.2.3.4.5/", "http://08.0.0.1/", "http://256.0.0.1/", "http://1.16777216/"],
)
def test_invalid_url(url: str) -> None:
    assert refused(url) == f"Invalid URL: {url}"


def test_normalised_upper_case_scheme_is_a_host_named_https() -> None:
    resolve = fixed("203.0.113.9")
    dest = check_destination(normalize_payload_url("HTTPS://x"), DEFAULT, resolve)
    assert (dest.scheme, dest.host, dest.port) == ("http", "https", 80)
    assert resolve.calls == [("https", 80)]


# --- resolution ---------------------------------------------------------------------------------

def test_resolution_failure_texts() -> None:
    def broken(host: str, port: int) -> Iterable[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    text = "Failed to resolve webhook payload URL host [hooks.example]"
    assert refused("http://hooks.example/x", resolve=broken) == text
    assert refused("http://hooks.example/x", resolve=fixed()) == text  # empty answer: fail closed
    assert refused("http://hooks.example/x", resolve=fixed("garbage")) == text


def test_system_resolver_reads_localhost() -> None:
    dest = check_destination("http://localhost:8080/h", DEFAULT)
    assert dest.addresses and all(a.is_loopback for a in dest.addresses)
    url = "http://localhost/"
    assert refused(url, WITH_LOOPBACK, resolve=system_resolve) == blocked_text(url)


def test_destination_fields_and_resolver_arguments() -> None:
    resolve = fixed("203.0.113.5", "::ffff:203.0.113.5", "2001:db8::5")
    dest = check_destination("https://Hooks.Example:8443/a/b?x=1&y=2#frag", DEFAULT, resolve)
    assert resolve.calls == [("hooks.example", 8443)]
    assert (dest.scheme, dest.host, dest.port, dest.path) == (
        "https", "hooks.example", 8443, "/a/b?x=1&y=2"
    )
    assert dest.addresses == [IP("203.0.113.5"), IP("2001:db8::5")]  # mapped form folded in
    assert dest.host_header == "hooks.example:8443"
    assert check_destination("http://h.example", DEFAULT, resolve).path == "/"
    assert check_destination("http://h.example:80/", DEFAULT, resolve).host_header == "h.example"


def test_ipv6_literal_and_idna_host() -> None:
    dest = check_destination("http://[::1]:9000/x", DEFAULT, no_dns)
    assert dest.addresses == [IP("::1")] and dest.host_header == "[::1]:9000"
    resolve = fixed("203.0.113.7")
    dest = check_destination("https://bücher.example/", DEFAULT, resolve)
    assert resolve.calls == [("xn--bcher-kva.example", 443)]
    assert dest.host == "bücher.example" and dest.host_header == "xn--bcher-kva.example"


# --- blocked addresses --------------------------------------------------------------------------

def blocked_text(url: str) -> str:
    return f"Webhook payload URL [{url}] resolves to a blocked IP address"


METADATA_SPELLINGS = [
    "169.254.169.254", "2852039166", "0xa9fea9fe", "0xa9.0xfe.0xa9.0xfe", "0XA9.0XFE.0XA9.0XFE",
    "0251.0376.0251.0376", "025177524776", "169.254.43518", "169.16689662", "169.254.169.254.",
]
LOOPBACK_SPELLINGS = ["127.0.0.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "0177.0.0.1",
                      "0177.1", "127.1", "127.0.1", "0x7f.1"]


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
def test_metadata_address_in_any_spelling_is_blocked(host: str) -> None:
    url = f"http://{host}/latest/meta-data/"
    assert refused(url) == blocked_text(url)


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_spellings_are_checked_as_loopback(host: str) -> None:
    url = f"http://{host}:8080/hook"
    assert refused(url, WITH_LOOPBACK) == blocked_text(url)
    # the default policy allows loopback receivers, and they reach 127.0.0.1 exactly
    dest = check_destination(url, DEFAULT, no_dns)
    assert dest.addresses == [IP("127.0.0.1")] and dest.host == host.lower()


@pytest.mark.parametrize("host", [h for h in METADATA_SPELLINGS + LOOPBACK_SPELLINGS
                                  if not h.endswith(".")])
def test_our_decoding_matches_getaddrinfo(host: str) -> None:
    # getaddrinfo decodes numeric hosts locally (no DNS query): it must agree with us.
    real = socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    assert check_destination(f"http://{host}/", OPEN, no_dns).addresses == [IP(real)]


@pytest.mark.parametrize("host", ["[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]",
                                  "[0:0:0:0:0:ffff:a9fe:a9fe]", "[fe80::1]", "[ff02::1]"])
def test_ipv6_literals_blocked(host: str) -> None:
    url = f"http://{host}/"
    assert refused(url) == blocked_text(url)


def test_ipv4_mapped_is_connected_to_as_ipv4() -> None:
    dest = check_destination("http://[::ffff:127.0.0.1]:81/", DEFAULT, no_dns)
    assert dest.addresses == [IP("127.0.0.1")]
    url = "http://[::ffff:127.0.0.1]:81/"
    assert refused(url, WITH_LOOPBACK) == blocked_text(url)
    # an IPv6 entry for the mapped range also matches
    url = "http://[::ffff:10.1.1.1]/"
    assert refused(url, DestinationPolicy(blocklist=parse_blocklist("::ffff:0:0/96"))) == (
        blocked_text(url)
    )


@pytest.mark.parametrize(
    "answers",
    [("169.254.169.254",), ("::ffff:169.254.169.254",), ("203.0.113.5", "169.254.169.254"),
     ("2001:db8::1", "fe80::1"), ("0.0.0.0",), ("224.0.0.251",), ("240.0.0.1",)],
)
def test_every_resolved_address_is_checked(answers: tuple[str, ...]) -> None:
    url = "https://rebind.example/hook"
    assert refused(url, resolve=fixed(*answers)) == blocked_text(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.10",
                                     "::1", "fd00::1", "203.0.113.5"])
def test_default_policy_allows_loopback_and_lan(address: str) -> None:
    dest = check_destination("http://dev.example/", DEFAULT, fixed(address))
    assert dest.addresses == [IP(address)]


def test_user_blocklist() -> None:
    policy = DestinationPolicy(blocklist=parse_blocklist("10.0.0.0/8, 2001:db8::/32"))
    for answer in ("10.20.30.40", "2001:db8::9", "::ffff:10.0.0.1"):
        with pytest.raises(DestinationError):
            check_destination("http://x.example/", policy, fixed(answer))
    # the default ranges are not blocked once the blocklist is replaced
    assert check_destination("http://x.example/", policy, fixed("169.254.169.254")).addresses


def own_addresses() -> list[str]:
    found = {"127.0.0.1", "::1"}
    try:
        found |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass
    return sorted(found)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "127.8.9.10", "::1", "0.0.0.0", "::", "169.254.1.1", "fe80::2",
                *own_addresses()],
)
def test_block_local_addresses(address: str) -> None:
    url = "http://me.example/"
    local = DestinationPolicy(blocklist=(), block_local_addresses=True)
    assert refused(url, local, resolve=fixed(address)) == blocked_text(url)
    assert check_destination(url, OPEN, fixed(address)).addresses  # allowed without the flag


def test_block_local_addresses_keeps_remote_receivers() -> None:
    local = DestinationPolicy(blocklist=(), block_local_addresses=True)
    assert check_destination("http://x.example/", local, fixed("203.0.113.77")).addresses
    url = "http://127.1/"
    assert refused(url, local) == blocked_text(url)

"""SSRF: every way of spelling a blocked address is refused when a payload URL is given
(createWebhook, updateWebhook, executeWebhookDelivery) and again when a delivery is made (the
blocklist changed after the webhook was created, a name that now resolves elsewhere, a
redirect to the metadata address), and no DNS answer can change between check and connect.

DNS is stood in for at the socket layer (`socket.getaddrinfo`), below csapi's own resolver,
so the checks at create time and at delivery time both go through it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from csapi.webhooks.policy import DEFAULT_BLOCKLIST
from tests.hostile import changed, table_counts, table_digest
from tests.receivers import Receiver, processed_text, redirect
from tests.server import DatabaseFactory, ServerFactory
from tests.webhook_env import Env, env_factory, make_event, receiver_factory

METADATA = "169.254.169.254"


def blocked(url: str) -> str:
    return f"Webhook payload URL [{url}] resolves to a blocked IP address"


# Spellings of 169.254.169.254 (or of other blocked ranges) and what the policy says.
BYPASSES = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",  # decimal
    "http://0251.0376.0251.0376/",  # octal
    "http://0xa9fea9fe/",  # hex
    "http://0XA9.0XFE.0XA9.0XFE/",  # hex per part, upper case
    "http://169.254.43518/",  # two-part short form
    "http://0251.0xfe.43518/",  # mixed bases
    "http://169.254.169.254./",  # trailing dot
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/",  # the same, in hex
    "http://0.0.0.0:8080/",
    "http://0/",
    "http://0x0/",
    "http://224.0.0.1/",  # multicast
    "http://255.255.255.255/",  # reserved (240.0.0.0/4)
    "http://[fe80::1]/",  # link-local IPv6
    "http://[ff02::1]/",  # multicast IPv6
    "http://user:pw@169.254.169.254:80/",  # userinfo does not hide the host
    "169.254.169.254/no-scheme",  # CloudStack prefixes http://
    "http://metadata.test/",  # a name resolving to the metadata address
    "http://mixed.test/",  # one of its addresses is blocked
    "http://mapped.test/",  # resolves to an IPv4-mapped metadata address
    "http://zero.test/",  # resolves to 0.0.0.0
]


class FakeDns:
    """Names the tests resolve; literals and localhost go to the real resolver."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str] | Callable[[], list[str]]] = {
            "metadata.test": [METADATA],
            "mixed.test": ["127.0.0.1", METADATA],
            "mapped.test": ["::ffff:169.254.169.254"],
            "zero.test": ["0.0.0.0"],
        }
        self.calls: list[str] = []
        self.real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in self.answers:
            if name.rstrip(".") == "localhost" or not any(
                    c.isalpha() for c in name.replace("::ffff", "")):
                return self.real(host, port, *args, **kwargs)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        self.calls.append(name)
        found = self.answers[name]
        addresses = found() if callable(found) else found
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, int(port or 0))) for a in addresses]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    dns = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


@pytest.fixture
def rx() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def written(state: Any) -> tuple[dict[str, int], dict[str, str]]:
    return table_counts(state), table_digest(state, ("webhook", "webhook_delivery"))


def setting(admin: Any, name: str, value: str) -> None:
    assert admin.ok("updateConfiguration", name=name, value=value)["configuration"]["value"] \
        == value


def expected_text(url: str) -> str:
    full = url if url.startswith(("http://", "https://")) else "http://" + url
    return blocked(full)


# --- refused when the URL is given -------------------------------------------------------------

@pytest.mark.usefixtures("fake_dns")
def test_every_bypass_is_refused_when_the_url_is_given(admin, state, rx) -> None:
    hook = admin.ok("createWebhook", name="allowed", payloadurl=rx.url)["webhook"]
    before = written(state)
    for url in BYPASSES:
        for command, params in (("createWebhook", {"name": "evil"}),
                                ("updateWebhook", {"id": hook["id"]}),
                                ("executeWebhookDelivery", {})):
            res = admin.call(command, payloadurl=url, **params)
            assert (res.status, res.body.get("cserrorcode"), res.error) == (
                431, 4350, expected_text(url)), (command, url)
    assert changed(before[0], written(state)[0]) == {}
    assert before[1] == written(state)[1]
    assert rx.count == 0  # executeWebhookDelivery never sent anything anywhere


@pytest.mark.usefixtures("fake_dns")
def test_hardened_profile_also_refuses_every_spelling_of_this_host(admin, state) -> None:
    """webhook.delivery.block.local.addresses=true: loopback, unspecified and this machine's
    own addresses in any spelling."""
    setting(admin, "webhook.delivery.block.local.addresses", "true")
    for url in ("http://127.0.0.1/", "http://127.1/", "http://2130706433/",
                "http://017700000001/", "http://0x7f000001/", "http://[::1]/", "http://[::]/",
                "http://[::ffff:127.0.0.1]/", "http://localhost/", "http://LOCALHOST/"):
        res = admin.call("createWebhook", name="evil", payloadurl=url)
        assert (res.status, res.error) == (431, blocked(url)), url


# --- refused when the delivery is made ---------------------------------------------------------

def test_a_name_that_now_resolves_to_a_blocked_address_is_refused_at_delivery(
        admin, state, rx, fake_dns) -> None:
    fake_dns.answers["flip.test"] = ["127.0.0.1"]
    url = f"http://flip.test:{rx.port}/hook"
    hook = admin.ok("createWebhook", name="flip", payloadurl=url)["webhook"]
    assert admin.ok("executeWebhookDelivery", webhookid=hook["id"])["webhookdelivery"][
        "success"] is True
    assert rx.count == 1
    fake_dns.answers["flip.test"] = [METADATA]
    view = admin.ok("executeWebhookDelivery", webhookid=hook["id"])["webhookdelivery"]
    assert (view["success"], view["response"]) == (False, "Failed due to : " + blocked(url))
    assert rx.count == 1


def in_turn(*turns: list[str]) -> Callable[[], list[str]]:
    """Answers that change from one lookup to the next (the last one stays)."""
    left = list(turns)
    return lambda: left.pop(0) if len(left) > 1 else left[0]


@pytest.mark.parametrize(("first", "then", "delivered"),
                         [("127.0.0.1", METADATA, True), (METADATA, "127.0.0.1", False)])
def test_no_second_lookup_between_check_and_connect(admin, rx, fake_dns, first: str, then: str,
                                                    delivered: bool) -> None:
    """DNS rebinding: the name answers differently on every lookup. An attempt resolves once,
    checks every address and connects to the address it checked, so a second answer can
    neither sneak a blocked address past the check nor spoil an allowed one."""
    setting(admin, "webhook.delivery.tries", "1")
    fake_dns.answers["rebind.test"] = ["127.0.0.1"]
    url = f"http://rebind.test:{rx.port}/hook"
    hook = admin.ok("createWebhook", name="rebind", payloadurl=url)["webhook"]
    fake_dns.calls.clear()
    fake_dns.answers["rebind.test"] = in_turn([first], [then])
    view = admin.ok("executeWebhookDelivery", webhookid=hook["id"])["webhookdelivery"]
    assert fake_dns.calls == ["rebind.test"], view["response"]
    if delivered:
        assert (view["success"], rx.count) == (True, 1)
        assert rx.requests[0].header("Host") == f"rebind.test:{rx.port}"
    else:
        assert (view["success"], rx.count) == (False, 0)
        assert view["response"] == "Failed due to : " + blocked(url)


# --- with a real server: settings changed under a live webhook, redirects ---------------------

@pytest.fixture
def make_env(fresh_database: DatabaseFactory) -> Iterator[Callable[..., Env]]:
    yield from env_factory(fresh_database)


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    yield from receiver_factory()


def test_blocklist_changed_after_creation_stops_the_next_delivery(
        make_env, serve: ServerFactory, receivers) -> None:
    env = make_env()
    env.start(serve)
    rx = receivers()
    # Only the test's own events: the settings changes below are events of this owner too.
    hook = env.webhook(env.admin, rx.url, filters=[("Include", "Exact", "REGISTER.USER.KEY")])
    env.baseline(rx)
    make_event(env.api, env.admin)
    [first] = env.wait_deliveries(1, hook)
    assert (first.success, rx.count) == (True, 1), first.response
    env.api.ok("updateConfiguration", name="webhook.delivery.blocklist",
               value=DEFAULT_BLOCKLIST + ",127.0.0.0/8")
    make_event(env.api, env.admin)
    rows = env.wait_deliveries(2, hook)
    assert [(r.success, r.response) for r in rows[1:]] == [
        (False, "Failed due to : " + blocked(rx.url))]
    assert rx.count == 1  # nothing was sent
    # Lifting it again lets the next one through: the policy is read for every delivery.
    env.api.ok("resetConfiguration", name="webhook.delivery.blocklist")
    make_event(env.api, env.admin)
    rows = env.wait_deliveries(3, hook)
    assert rows[2].success and rx.count == 2


def test_redirects_to_the_metadata_address_are_refused(make_env, serve: ServerFactory,
                                                       receivers) -> None:
    env = make_env({"webhook.delivery.allow.redirects": "true"})
    env.start(serve)
    targets = ["http://169.254.169.254/latest/meta-data/", "http://2852039166/",
               "http://[::ffff:169.254.169.254]/", "http://0.0.0.0/"]
    rxs = [receivers(default=redirect(302, t)) for t in targets]
    followed = receivers()
    fine = receivers(default=redirect(307, followed.url))
    only = [("Include", "Exact", "REGISTER.USER.KEY")]
    hooks = [env.webhook(env.admin, rx.url, filters=only) for rx in [*rxs, fine]]
    env.baseline(*rxs, fine, followed)
    make_event(env.api, env.admin)
    env.wait_deliveries(len(hooks))
    for hook, rx, target in zip(hooks, rxs, targets, strict=False):
        [row] = env.deliveries(hook)
        assert (row.success, row.response) == (False, "Failed due to : " + blocked(target))
        assert rx.count == 1
    # An allowed redirect is followed (so the refusals above are the policy's doing).
    [row] = env.deliveries(hooks[-1])
    [event] = env.events()
    assert (row.success, row.response) == (True, processed_text(event.uuid))
    assert followed.count == 1

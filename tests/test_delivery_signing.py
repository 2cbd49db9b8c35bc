"""Signed deliveries, checked by an independent receiver: X-CS-Signature (hex by default,
base64 per domain) computed here with hmac, and the Standard Webhooks headers verified with the
`standardwebhooks` package from PyPI. Real `csapi serve` processes, SQLite and MariaDB."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.receivers import Receiver, Request, processed_text
from tests.server import DatabaseFactory, ServerFactory
from tests.webhook_env import (
    Env,
    env_factory,
    login,
    make_event,
    receiver_factory,
)

MakeEnv = Callable[..., Env]
MakeReceiver = Callable[..., Receiver]

# Non-ASCII on purpose: the HMAC key is the secret's UTF-8 bytes.
SECRET = "s3cr\u00e9t-\u043a\u043b\u044e\u0447-\U0001f511"
OTHER_SECRET = "another secret with spaces"
STANDARD = ("webhook-id", "webhook-timestamp", "webhook-signature")


@pytest.fixture
def make_env(fresh_database: DatabaseFactory) -> Iterator[MakeEnv]:
    yield from env_factory(fresh_database)


@pytest.fixture
def receivers() -> Iterator[MakeReceiver]:
    yield from receiver_factory()


def hmac_digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()


def verify_standard(secret: str, req: Request, *, json_body: bool = True) -> object:
    """What a receiver using the Standard Webhooks library does."""
    wh = Webhook(base64.b64encode(secret.encode("utf-8")).decode("ascii"))
    return wh.verify(req.body, dict(req.headers), json_parse=json_body)


def recorded_line(headers: str | None, name: str) -> str | None:
    for line in (headers or "").split("\n"):
        key, _, value = line.partition(": ")
        if key == name:
            return value
    return None


def test_signature_headers_verify_per_domain_encoding(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env()
    server = env.start(serve)
    hex_dom, b64_dom, plain_dom = env.domain("Hex"), env.domain("B64"), env.domain("NoStd")
    env.set_domain(b64_dom, {"webhook.signature.encoding": "base64"})
    env.set_domain(plain_dom, {"webhook.delivery.standard.headers": "false"})
    owners = {"hex": env.tenant("th", hex_dom), "b64": env.tenant("tb", b64_dom),
              "nostd": env.tenant("tn", plain_dom), "nosecret": env.tenant("tx", hex_dom)}
    secrets = {"hex": SECRET, "b64": OTHER_SECRET, "nostd": SECRET, "nosecret": None}
    rxs = {name: receivers() for name in owners}
    hooks = {name: env.webhook(owners[name], rxs[name].url, secret=secrets[name])
             for name in owners}
    env.baseline(*rxs.values())
    for who in owners.values():
        make_event(env.client(who), who)
        login(server, who)
    for rx in rxs.values():
        rx.wait_for(2)
    env.wait_deliveries(8)
    env.settle()
    uuids = {e.uuid for e in env.events()}
    assert len(uuids) == 8

    for name, rx in rxs.items():
        rows = {env.event(r.event_id).uuid: r for r in env.deliveries(hooks[name])}
        assert len(rx.requests) == 2 and len(rows) == 2
        secret = secrets[name]
        for req in rx.requests:
            assert req.event_id in uuids
            row = rows[req.event_id]
            sig = req.header("X-CS-Signature")
            if secret is None:
                assert sig is None
                assert [h for h in STANDARD if req.header(h) is not None] == []
                assert "Signature" not in (row.headers or "")
                continue
            digest = hmac_digest(secret, req.body)
            if name == "b64":
                assert sig == base64.b64encode(digest).decode("ascii")
                assert len(sig) == 44 and sig.endswith("=")
            else:
                assert sig == digest.hex()
                assert re.fullmatch(r"[0-9a-f]{64}", sig)
            assert hmac_digest("not the secret", req.body).hex() != sig
            # The history shows the signature exactly as sent.
            assert recorded_line(row.headers, "X-CS-Signature") == sig
            if name == "nostd":
                assert [h for h in STANDARD if req.header(h) is not None] == []
                continue
            assert req.header("webhook-id") == req.event_id
            assert abs(int(req.header("webhook-timestamp") or 0) - req.received_wall) < 60
            assert verify_standard(secret, req) == json.loads(req.body)
            for header in STANDARD:
                assert recorded_line(row.headers, header) == req.header(header)
            with pytest.raises(WebhookVerificationError):
                verify_standard("not the secret", req)
            with pytest.raises(WebhookVerificationError):
                verify_standard(secret, Request(req.index, req.method, req.path, req.headers,
                                                req.body.replace(b"Completed", b"Completes"),
                                                req.received, req.received_wall))
            assert row.response == processed_text(req.event_id)


def test_redelivery_and_test_deliveries_are_signed_with_the_current_secret(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env()
    env.start(serve)
    b64_dom = env.domain("B64")
    env.set_domain(b64_dom, {"webhook.signature.encoding": "base64"})
    owner = env.tenant("signer", b64_dom)
    rx = receivers()
    hook = env.webhook(owner, rx.url, secret=OTHER_SECRET)
    env.baseline(rx)
    api = env.client(owner)
    make_event(api, owner)
    [original] = rx.wait_for(1)
    [row] = env.wait_deliveries(1, hook)

    # A new secret (set by the admin, so that its event isn't the owner's), then a redelivery
    # of the stored delivery: same body and event id, signed with the webhook's current
    # secret, recorded as a second row.
    env.api.ok("updateWebhook", id=hook.uuid, secretkey=SECRET)
    shown = api.ok("executeWebhookDelivery", id=row.uuid)["webhookdelivery"]
    again = rx.wait_for(2)[1]
    assert again.body == original.body
    assert again.event_id == original.event_id == shown["eventid"]
    assert again.header("X-CS-Signature") == base64.b64encode(
        hmac_digest(SECRET, again.body)).decode("ascii")
    assert verify_standard(SECRET, again) == json.loads(again.body)
    with pytest.raises(WebhookVerificationError):
        verify_standard(OTHER_SECRET, again)
    assert shown["success"] is True and shown["response"] == processed_text(again.event_id)
    assert len(env.deliveries(hook)) == 2

    # A test delivery with a non-ASCII, non-JSON payload: signed over its UTF-8 bytes.
    payload = "h\u00e9llo \u2713 <&> =' caf\u00e9"
    shown = api.ok("executeWebhookDelivery", webhookid=hook.uuid, payload=payload)[
        "webhookdelivery"]
    test = rx.wait_for(3)[2]
    assert test.body == payload.encode("utf-8")
    assert test.header("X-CS-Event") == "TEST.WEBHOOK"
    assert test.header("Content-Type") == "text/plain; charset=UTF-8"
    assert test.header("User-Agent") == f"CS-Hookshot/{owner.account_uuid}"
    assert test.header("X-CS-Signature") == base64.b64encode(
        hmac_digest(SECRET, test.body)).decode("ascii")
    assert verify_standard(SECRET, test, json_body=False) is None
    assert shown["payload"] == payload and shown["success"] is True
    # An override secret signs that one request only.
    api.ok("executeWebhookDelivery", webhookid=hook.uuid, secretkey=OTHER_SECRET)
    override = rx.wait_for(4)[3]
    assert override.body == b'{ "CloudStack": "works!" }'
    assert verify_standard(OTHER_SECRET, override) == {"CloudStack": "works!"}
    assert len(env.deliveries(hook)) == 2  # tests are not stored


def test_no_secret_means_no_signature_even_on_redelivery(
        make_env: MakeEnv, serve: ServerFactory, receivers: MakeReceiver) -> None:
    env = make_env()
    env.start(serve)
    owner = env.tenant("unsigned")
    rx = receivers()
    hook = env.webhook(owner, rx.url)
    env.baseline(rx)
    make_event(env.client(owner), owner)
    rx.wait_for(1)
    [row] = env.wait_deliveries(1, hook)
    env.client(owner).ok("executeWebhookDelivery", id=row.uuid)
    rx.wait_for(2)
    assert rx.count == 2
    for req in rx.requests:
        names = {k.lower() for k, _ in req.headers}
        assert names.isdisjoint({"x-cs-signature", *STANDARD}), req.headers
    assert all("Signature" not in (r.headers or "") for r in env.deliveries(hook))

"""CloudStack's webhook lifecycle smoke tests (test/integration/smoke/test_webhook_lifecycle.py,
spec §7.1): the same 13 cases, through the API, with the same payload URLs.

The sandbox has no DNS, so `smee.io` is answered by a stand-in resolver for the API's URL checks;
deliveries to it then fail at send time, which the cases do not assert on (as upstream).
"""

from __future__ import annotations

import random
import string
import time
from datetime import datetime
from typing import Any

import gevent
import pytest

from csapi.api.registry import load_commands
from tests.client import ApiClient
from tests.factories import Tenant, create_domain, create_tenant
from tests.webhook_fixtures import dns  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("dns")

PAYLOAD_URL = "http://smee.io/C9LPa7Ei3iB6Qj2"
HTTPS_PAYLOAD_URL = "https://smee.io/C9LPa7Ei3iB6Qj2"
SSH_PUBLIC_KEY = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0b5Xl2qrAijG0LPuVwOqVCLQHE6Sxpl+cIBdw"
                  "cFlt8QdHOfoa1xLy3CFb9T8Ep7UL7YbOKmeG0kcYCPfmsoHu7Qs6+K9K5Nh3n5uAtNqsvRZ5kdQk"
                  "Ar5W0gtQGd4PNgK0Rm2LuFd0V7XGtLLZgB2wGk0aAnBq8K3eV5rcB4iQYlbMR4s7m5nCqjmJ36Q0"
                  "7qErv4sRphPvmwXkkQ0DAptmKwBRvIhrZXbSCVAY0rnp6a1rSMS+Qe9TI3bXRvT8pbLHU9O5e0N5"
                  "uuwybXDUN7bANqb9VTgYFTcl9VDbBf1ZhINzGsLbWyPwbUuxjNv7qz1dKCYxyZaDDxH9frw3lbwJ "
                  "smoke@test")


def random_name() -> str:
    return "Test-" + "".join(random.choices(string.ascii_letters + string.digits, k=8))


class Lifecycle:
    """runWebhookLifecycleTest: create, check the echo, find it by id, delete, gone."""

    def __init__(self, admin: ApiClient) -> None:
        self.admin = admin

    def run(self, client: ApiClient, *, is_user: bool = False, user_domain: str | None = None,
            **given: Any) -> dict[str, Any]:
        name = random_name()
        payload_url = given.pop("payloadurl", PAYLOAD_URL)
        w = client.ok("createWebhook", name=name, payloadurl=payload_url, **given)["webhook"]
        assert w["name"] == name and w["payloadurl"] == payload_url
        assert w["state"] == given.get("state", "Enabled")
        expected_scope = "Local" if is_user or "scope" not in given else given["scope"]
        assert w["scope"] == expected_scope
        assert w["sslverification"] is given.get("sslverification", False)
        if is_user:
            assert w["domainid"] == user_domain
        elif "domainid" in given:
            assert w["domainid"] == given["domainid"]
        for field in ("account", "description", "secretkey"):
            if field in given:
                assert w[field] == given[field]
        listed = client.ok("listWebhooks", id=w["id"])
        assert listed["count"] == 1 and [x["id"] for x in listed["webhook"]] == [w["id"]]
        client.ok("deleteWebhook", id=w["id"])
        assert client.ok("listWebhooks", id=w["id"]) == {}
        return w


@pytest.fixture
def cloud(admin, app, state) -> dict[str, Any]:
    """The smoke test's accounts: a domain with its domain admin, a sub-domain, a user."""
    d_id, d_uuid = create_domain(state, "smoke-" + random_name().lower())
    sub_id, sub_uuid = create_domain(state, "sub", d_id)
    return {
        "domain": d_uuid, "subdomain": sub_uuid,
        "domain_admin": create_tenant(app, state, "smoke-dadmin", d_id, account_type=2),
        "user": create_tenant(app, state, "smoke-user", d_id),
        "lifecycle": Lifecycle(admin),
    }


def test_01_root_admin_defaults(admin, cloud) -> None:
    w = cloud["lifecycle"].run(admin)
    assert (w["scope"], w["account"]) == ("Local", "admin")


def test_02_root_admin_domain_scope_on_new_domain(admin, cloud) -> None:
    w = cloud["lifecycle"].run(admin, scope="Domain", domainid=cloud["domain"])
    assert w["domainid"] == cloud["domain"]


def test_03_root_admin_global(admin, cloud) -> None:
    cloud["lifecycle"].run(admin, scope="Global")


def test_04_domain_admin_defaults(cloud) -> None:
    da: Tenant = cloud["domain_admin"]
    w = cloud["lifecycle"].run(da.client)
    assert (w["domainid"], w["account"]) == (cloud["domain"], da.account_name)


def test_05_domain_admin_domain_scope_on_subdomain(cloud) -> None:
    w = cloud["lifecycle"].run(cloud["domain_admin"].client, scope="Domain",
                               domainid=cloud["subdomain"])
    assert w["domainid"] == cloud["subdomain"]


def test_06_domain_admin_global_is_refused(cloud) -> None:
    res = cloud["domain_admin"].client.call("createWebhook", name=random_name(),
                                            payloadurl=PAYLOAD_URL, scope="Global")
    assert res.status == 431
    assert res.body["errortext"].startswith("Scope Global can not be specified for owner")


def test_07_user_defaults(cloud) -> None:
    user: Tenant = cloud["user"]
    cloud["lifecycle"].run(user.client, is_user=True, user_domain=user.domain_uuid)


def test_08_user_domain_scope_is_ignored(cloud) -> None:
    user: Tenant = cloud["user"]
    cloud["lifecycle"].run(user.client, is_user=True, user_domain=user.domain_uuid,
                           scope="Domain", domainid=user.domain_uuid)


def test_09_user_global_scope_is_ignored(cloud) -> None:
    user: Tenant = cloud["user"]
    cloud["lifecycle"].run(user.client, is_user=True, user_domain=user.domain_uuid,
                           scope="Global")


def test_10_root_admin_for_user_with_everything(admin, cloud) -> None:
    user: Tenant = cloud["user"]
    w = cloud["lifecycle"].run(admin, payloadurl=HTTPS_PAYLOAD_URL, account=user.account_name,
                               domainid=user.domain_uuid, scope="Local", description="Webhook",
                               sslverification=True, secretkey="webhook", state="Disabled")
    assert w["account"] == user.account_name


def test_11_user_updates(cloud) -> None:
    user: Tenant = cloud["user"]
    w = user.client.ok("createWebhook", name=random_name(), payloadurl=PAYLOAD_URL)["webhook"]
    description, secret = "Desc-" + random_name(), random_name()
    res = user.client.call("updateWebhook", id=w["id"], description=description,
                           secretkey=secret, state="Disabled")
    assert res.status == 200 and res.envelope == "updatewebhookresponse"
    updated = res.body["webhook"]
    assert (updated["description"], updated["secretkey"], updated["state"]) == (
        description, secret, "Disabled")


def _have(*commands: str) -> bool:
    registry = load_commands()
    return all(c in registry for c in commands)


@pytest.mark.xfail(not _have("registerSSHKeyPair", "listEvents"), strict=True,
                   reason="needs the dispatcher")
def test_12_user_event_is_delivered(admin, state, cloud) -> None:
    from csapi.webhooks.dispatcher import Dispatcher

    user: Tenant = cloud["user"]
    start = datetime.utcnow().replace(microsecond=0)
    w = user.client.ok("createWebhook", name=random_name(), payloadurl=PAYLOAD_URL)["webhook"]
    dispatcher = Dispatcher(state)
    dispatcher.start()
    try:
        user.client.ok("registerSSHKeyPair", name=random_name(), publickey=SSH_PUBLIC_KEY)
        events = admin.ok("listEvents", listall=True,
                          startdate=start.strftime("%Y-%m-%d %H:%M:%S"))
        expected = sum(1 for e in events.get("event", []) if e["type"] == "REGISTER.SSH.KEYPAIR")
        assert expected >= 1
        deadline = time.monotonic() + 15
        found: list[dict] = []
        while time.monotonic() < deadline:
            gevent.sleep(0.2)  # the dispatcher's greenlets run while we wait
            body = user.client.ok("listWebhookDeliveries", webhookid=w["id"], page=1,
                                  pagesize=20)
            found = [d for d in body.get("webhookdelivery", [])
                     if d["eventtype"] == "REGISTER.SSH.KEYPAIR"]
            if len(found) >= expected:
                break
    finally:
        dispatcher.stop(timeout=5)
    assert len(found) == expected
    user.client.ok("deleteWebhookDelivery", webhookid=w["id"])
    assert user.client.ok("listWebhookDeliveries", webhookid=w["id"], page=1, pagesize=20) == {}


def test_13_user_executes_a_test_delivery(cloud) -> None:
    user: Tenant = cloud["user"]
    w = user.client.ok("createWebhook", name=random_name(), payloadurl=PAYLOAD_URL)["webhook"]
    payload = '{ "CloudStack": "Integration Test" }'
    d = user.client.ok("executeWebhookDelivery", webhookid=w["id"], payload=payload)[
        "webhookdelivery"]
    assert d["webhookid"] == w["id"] and d["payload"] == payload

"""Event-type filters: the evaluation the dispatcher uses (§1.9, the §7.3 unit cases) and the
three filter commands, without CloudStack 4.23's bugs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from csapi.db.models import WebhookFilter
from csapi.webhooks.filters import event_type_matches
from tests.factories import create_tenant
from tests.webhook_fixtures import count, dns, snapshot  # noqa: F401 - dns is a fixture

pytestmark = pytest.mark.usefixtures("dns")

FILTER_FIELDS = ["id", "webhookid", "webhookname", "type", "mode", "matchtype", "value",
                 "created"]


@dataclass
class F:
    mode: str
    match_type: str | None
    value: str | None


# --- evaluation ------------------------------------------------------------------------------

@pytest.mark.parametrize(("match_type", "value", "expected"), [
    ("Exact", "USER.LOGIN", True),
    ("Exact", "USER.LOGOUT", False),
    ("Exact", "user.login", False),  # case-sensitive
    ("Prefix", "USER.", True),
    ("Prefix", "VM.", False),
    ("Prefix", "user.", False),
    ("Suffix", ".LOGIN", True),
    ("Suffix", ".LOGOUT", False),
    ("Contains", "ER.LO", True),
    ("Contains", "VM", False),
    ("Contains", "er.lo", False),
    ("Exact", None, False),  # a null value matches nothing
])
def test_include_match_types(match_type, value, expected) -> None:
    assert event_type_matches([F("Include", match_type, value)], "USER.LOGIN") is expected
    # The same filter as an Exclude has the opposite effect.
    assert event_type_matches([F("Exclude", match_type, value)], "USER.LOGIN") is not expected


def test_no_filters_delivers_everything() -> None:
    assert event_type_matches([], "USER.LOGIN") is True


def test_exclude_wins_over_include() -> None:
    filters = [F("Include", "Prefix", "USER."), F("Exclude", "Exact", "USER.LOGIN")]
    assert event_type_matches(filters, "USER.LOGIN") is False
    assert event_type_matches(filters, "USER.LOGOUT") is True
    assert event_type_matches(filters, "VM.START") is False  # an Include exists, none matches


def test_any_one_include_suffices() -> None:
    filters = [F("Include", "Exact", "VM.START"), F("Include", "Suffix", ".LOGIN"),
               F("Include", "Contains", "NETWORK")]
    assert event_type_matches(filters, "USER.LOGIN") is True
    assert event_type_matches(filters, "VM.START") is True
    assert event_type_matches(filters, "VM.STOP") is False


def test_only_excludes_let_the_rest_through() -> None:
    filters = [F("Exclude", "Prefix", "USER."), F("Exclude", "Exact", "VM.STOP")]
    assert event_type_matches(filters, "VM.START") is True
    assert event_type_matches(filters, "VM.STOP") is False
    assert event_type_matches(filters, "USER.LOGOUT") is False


# --- addWebhookFilter ------------------------------------------------------------------------

@pytest.fixture
def hook(admin) -> dict:
    return admin.ok("createWebhook", name="filtered", payloadurl="http://smee.io/f")["webhook"]


def test_add_answers_webhookfilter(admin, hook) -> None:
    res = admin.call("addWebhookFilter", webhookid=hook["id"], value="VM.START")
    assert res.status == 200 and res.envelope == "addwebhookfilterresponse"
    f = res.body["webhookfilter"]
    assert list(f) == FILTER_FIELDS
    assert (f["webhookid"], f["webhookname"], f["type"], f["mode"], f["matchtype"],
            f["value"]) == (hook["id"], "filtered", "EventType", "Include", "Exact", "VM.START")
    # mode and match type are case-insensitive and stored in CloudStack's spelling.
    f = admin.ok("addWebhookFilter", webhookid=hook["id"], value="USER.", mode="exclude",
                 matchtype="PREFIX")["webhookfilter"]
    assert (f["mode"], f["matchtype"]) == ("Exclude", "Prefix")


@pytest.mark.parametrize(("params", "text"), [
    ({"mode": "Maybe"}, "Invalid mode specified"),
    ({"matchtype": "Regex"}, "Invalid match type specified"),
    ({"value": None}, "Unable to execute API command addwebhookfilter due to missing parameter "
     "value"),
    ({"value": ""}, "Unable to execute API command addwebhookfilter due to missing parameter "
     "value"),
    ({"webhookid": None}, "Unable to execute API command addwebhookfilter due to missing "
     "parameter webhookid"),
    ({"value": "V" * 256}, "Unable to execute API command addwebhookfilter due to invalid value. "
     "Value greater than max allowed length 255 for param: value"),
])
def test_add_rejects_bad_input(admin, state, hook, params, text) -> None:
    before = snapshot(state)
    args = {"webhookid": hook["id"], "value": "VM.START", **params}
    admin.fails("addWebhookFilter", 431, text, **{k: v for k, v in args.items() if v is not None})
    assert snapshot(state) == before


def test_identical_and_contradicting_filters_are_refused(admin, state, hook) -> None:
    admin.ok("addWebhookFilter", webhookid=hook["id"], value="VM.START")
    admin.ok("addWebhookFilter", webhookid=hook["id"], value="USER.", matchtype="Prefix",
             mode="Exclude")
    before = snapshot(state)
    admin.fails("addWebhookFilter", 431, "A filter with mode Include, match type Exact and value "
                "VM.START already exists for this webhook", webhookid=hook["id"],
                value="vm.start", mode="include", matchtype="exact")
    admin.fails("addWebhookFilter", 431, "The filter contradicts the existing Include filter "
                "with match type Exact and value VM.START of this webhook",
                webhookid=hook["id"], value="VM.START", mode="Exclude")
    admin.fails("addWebhookFilter", 431, "The filter contradicts the existing Exclude filter "
                "with match type Prefix and value USER. of this webhook",
                webhookid=hook["id"], value="user.", matchtype="Prefix")
    assert snapshot(state) == before
    # Same value with another match type is a different filter.
    admin.ok("addWebhookFilter", webhookid=hook["id"], value="VM.START", matchtype="Prefix")
    # And the same filter on another webhook is fine.
    other = admin.ok("createWebhook", name="o", payloadurl="http://smee.io/o")["webhook"]
    admin.ok("addWebhookFilter", webhookid=other["id"], value="VM.START")
    assert count(state, WebhookFilter) == 4


def test_add_to_removed_or_foreign_webhook(admin, app, state, hook) -> None:
    bob = create_tenant(app, state, "bob")
    before = snapshot(state)
    bob.client.fails("addWebhookFilter", 531, f"Account bob does not have permission to operate "
                     f"with resource Webhook {hook['id']}", webhookid=hook["id"], value="X")
    admin.ok("deleteWebhook", id=hook["id"])
    before = snapshot(state)
    admin.fails("addWebhookFilter", 431, "Unable to find the webhook with the specified ID",
                webhookid=hook["id"], value="X")
    assert snapshot(state) == before


# --- listWebhookFilters ----------------------------------------------------------------------

def test_list(admin, app, state, hook) -> None:
    other = admin.ok("createWebhook", name="second", payloadurl="http://smee.io/2")["webhook"]
    f1 = admin.ok("addWebhookFilter", webhookid=hook["id"], value="A")["webhookfilter"]
    f2 = admin.ok("addWebhookFilter", webhookid=other["id"], value="B")["webhookfilter"]
    f3 = admin.ok("addWebhookFilter", webhookid=hook["id"], value="C.X",
                  matchtype="Contains")["webhookfilter"]
    res = admin.call("listWebhookFilters")
    assert res.envelope == "listwebhookfiltersresponse"
    body = res.body
    assert body["count"] == 3
    assert [f["id"] for f in body["webhookfilter"]] == [f3["id"], f2["id"], f1["id"]]
    # Each item names its own webhook (CloudStack copies the first item's).
    assert [f["webhookname"] for f in body["webhookfilter"]] == ["filtered", "second",
                                                                 "filtered"]
    assert body["webhookfilter"][2] == f1
    # `id` resolves against filters.
    assert admin.ok("listWebhookFilters", id=f2["id"])["webhookfilter"] == [f2]
    assert [f["id"] for f in admin.ok("listWebhookFilters", webhookid=hook["id"])[
        "webhookfilter"]] == [f3["id"], f1["id"]]
    # `count` is the total, not the page size.
    page = admin.ok("listWebhookFilters", page=1, pagesize=2)
    assert page["count"] == 3 and len(page["webhookfilter"]) == 2
    page = admin.ok("listWebhookFilters", page=2, pagesize=2)
    assert page["count"] == 3 and [f["id"] for f in page["webhookfilter"]] == [f1["id"]]
    assert [f["id"] for f in admin.ok("listWebhookFilters", keyword="X")["webhookfilter"]] == [
        f3["id"]]
    # A delivery's UUID is not a filter.
    admin.fails("listWebhookFilters", 431, "Unable to execute API command listwebhookfilters due "
                f"to invalid value. Invalid parameter id value={hook['id']} due to incorrect "
                "long value format, or entity does not exist or due to incorrect parameter "
                "annotation for the field in api cmd class.", id=hook["id"])
    # Filters of removed webhooks are not listed.
    admin.ok("deleteWebhook", id=other["id"])
    assert admin.ok("listWebhookFilters")["count"] == 2


def test_list_checks_access(admin, app, state, hook) -> None:
    f = admin.ok("addWebhookFilter", webhookid=hook["id"], value="A")["webhookfilter"]
    bob = create_tenant(app, state, "bob")
    mine = bob.client.ok("createWebhook", name="b", payloadurl="http://smee.io/b")["webhook"]
    mf = bob.client.ok("addWebhookFilter", webhookid=mine["id"], value="B")["webhookfilter"]
    denied = f"Account bob does not have permission to operate with resource Webhook {hook['id']}"
    bob.client.fails("listWebhookFilters", 531, denied, webhookid=hook["id"])
    bob.client.fails("listWebhookFilters", 531, denied, id=f["id"])
    listed = bob.client.ok("listWebhookFilters")
    assert listed["count"] == 1 and listed["webhookfilter"] == [mf]
    assert admin.ok("listWebhookFilters")["count"] == 2


# --- deleteWebhookFilter ---------------------------------------------------------------------

def test_delete(admin, app, state, hook) -> None:
    f1 = admin.ok("addWebhookFilter", webhookid=hook["id"], value="A")["webhookfilter"]
    admin.ok("addWebhookFilter", webhookid=hook["id"], value="B")
    other = admin.ok("createWebhook", name="o", payloadurl="http://smee.io/o")["webhook"]
    admin.ok("addWebhookFilter", webhookid=other["id"], value="C")
    before = snapshot(state)
    # Never "the first filter in the system".
    admin.fails("deleteWebhookFilter", 431, "One of the id or webhookid must be specified")
    assert snapshot(state) == before
    res = admin.call("deleteWebhookFilter", id=f1["id"])
    assert res.status == 200 and res.body == {"success": True}
    assert res.envelope == "deletewebhookfilterresponse"
    assert count(state, WebhookFilter) == 2
    # webhookid alone: every filter of that webhook, and only of that one.
    admin.ok("deleteWebhookFilter", webhookid=hook["id"])
    assert [f["value"] for f in admin.ok("listWebhookFilters")["webhookfilter"]] == ["C"]
    # The filter is gone: its UUID no longer resolves.
    admin.fails("deleteWebhookFilter", 431, "Unable to execute API command deletewebhookfilter "
                f"due to invalid value. Invalid parameter id value={f1['id']} due to incorrect "
                "long value format, or entity does not exist or due to incorrect parameter "
                "annotation for the field in api cmd class.", id=f1["id"])


def test_delete_checks_access(admin, app, state, hook) -> None:
    f = admin.ok("addWebhookFilter", webhookid=hook["id"], value="A")["webhookfilter"]
    bob = create_tenant(app, state, "bob")
    mine = bob.client.ok("createWebhook", name="b", payloadurl="http://smee.io/b")["webhook"]
    before = snapshot(state)
    denied = f"Account bob does not have permission to operate with resource Webhook {hook['id']}"
    bob.client.fails("deleteWebhookFilter", 531, denied, id=f["id"])
    bob.client.fails("deleteWebhookFilter", 531, denied, webhookid=hook["id"])
    # Pairing a foreign filter with one's own webhook does not help either.
    bob.client.fails("deleteWebhookFilter", 531, denied, id=f["id"], webhookid=mine["id"])
    assert snapshot(state) == before

"""Setting declarations, validation and the scoped look-up walk (protocol spec §9)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from csapi import settings
from csapi.db import transaction
from csapi.db.models import AccountDetail, Configuration, DomainDetail
from csapi.settings import ACCOUNT, DOMAIN, GLOBAL, Setting
from tests.factories import create_domain, create_tenant


def put(state: Any, *, name: str, value: str | None, domain_id: int | None = None,
        account_id: int | None = None) -> None:
    """Write a stored value straight to the database (the API is tested elsewhere)."""
    with transaction(state.sessions) as db:
        if domain_id is not None:
            db.add(DomainDetail(domain_id=domain_id, name=name, value=value))
        elif account_id is not None:
            db.add(AccountDetail(account_id=account_id, name=name, value=value))
        else:
            db.get(Configuration, name).value = value


def lookup(state: Any, name: str, **scope: int) -> Any:
    with transaction(state.sessions) as db:
        return settings.value(db, name, **scope)


@pytest.fixture
def account_setting(state: Any) -> Iterator[Setting]:
    """An Account-scoped setting (csapi declares none of its own), declared for one test."""
    s = Setting("test.account.quota", int, "7", scope=ACCOUNT, description="test only")
    settings.SETTINGS[s.name] = s
    with transaction(state.sessions) as db:
        db.add(Configuration(name=s.name, category="Advanced", instance="DEFAULT",
                             component="test", value="7", default_value="7", scope=ACCOUNT,
                             is_dynamic=True))
    yield s
    del settings.SETTINGS[s.name]


# --- declarations -------------------------------------------------------------------------

def test_design_document_names_and_defaults_are_canonical() -> None:
    expected = {
        "webhook.delivery.timeout": (DOMAIN, "10", True),
        "webhook.delivery.tries": (DOMAIN, "3", True),
        "webhook.dispatch.thread.pool.size": (GLOBAL, "5", False),
        "webhook.dispatch.history.limit": (GLOBAL, "100", True),
        "webhook.dispatch.history.cleanup.interval": (GLOBAL, "3600", False),
        "webhook.deliveries.cleanup.initial.delay": (GLOBAL, "180", False),
        "webhook.signature.encoding": (DOMAIN, "hex", True),
        "enable.domain.settings.for.child.domain": (GLOBAL, "false", True),
        "enable.account.settings.for.domain": (GLOBAL, "false", True),
        "api.key.access": (DOMAIN, "true", True),
    }
    for name, (scope, default, dynamic) in expected.items():
        s = settings.SETTINGS[name]
        assert (s.scope, s.default, s.dynamic) == (scope, default, dynamic), name


def test_released_cloudstack_names_are_aliases() -> None:
    assert settings.resolve("webhook.delivery.thread.pool.size").name == \
        "webhook.dispatch.thread.pool.size"
    assert settings.resolve("webhook.deliveries.limit").name == "webhook.dispatch.history.limit"
    assert settings.resolve("webhook.deliveries.cleanup.interval").name == \
        "webhook.dispatch.history.cleanup.interval"
    assert settings.resolve("webhook.delivery.retries") is None
    assert settings.resolve("no.such.setting") is None


def test_every_setting_is_seeded_with_its_default(state: Any) -> None:
    with transaction(state.sessions) as db:
        rows = {r.name: r for r in db.scalars(select(Configuration))}
    assert set(settings.SETTINGS) <= set(rows)
    for s in settings.SETTINGS.values():
        assert rows[s.name].value == s.default
        assert rows[s.name].default_value == s.default
        assert rows[s.name].scope == s.scope
    assert not set(settings.ALIASES) & set(rows)


def test_a_setting_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        settings.declare(Setting("webhook.deliveries.limit", int, "1"))


def test_type_names_and_display_text() -> None:
    assert settings.SETTINGS["webhook.delivery.tries"].type_name == "Number"
    assert settings.SETTINGS["webhook.delivery.allow.http"].type_name == "Boolean"
    assert settings.SETTINGS["webhook.delivery.blocklist"].type_name == "CSV"
    assert settings.SETTINGS["webhook.signature.encoding"].type_name == "Select"
    assert Setting("x.ratio", float, "1.5").type_name == "Decimal"
    assert settings.SETTINGS["webhook.delivery.tries"].display_text == "Webhook delivery tries"


# --- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, error", [
    ("5", None),
    ("+5", None),
    ("-0", "Please enter a positive value for the configuration parameter:"
           "webhook.delivery.tries"),
    ("abc", "There was error in trying to parse value: abc. Please enter a valid integer value "
            "for parameter webhook.delivery.tries"),
    ("1.5", "There was error in trying to parse value: 1.5. Please enter a valid integer value "
            "for parameter webhook.delivery.tries"),
    ("2147483648", "There was error in trying to parse value: 2147483648. Please enter a valid "
                   "integer value for parameter webhook.delivery.tries"),
    ("٣", "There was error in trying to parse value: ٣. Please enter a valid integer value "
          "for parameter webhook.delivery.tries"),
    ("", "There was error in trying to parse value: . Please enter a valid integer value for "
         "parameter webhook.delivery.tries"),
    (None, "There was error in trying to parse value: null. Please enter a valid integer value "
           "for parameter webhook.delivery.tries"),
])
def test_integer_validation(value: str | None, error: str | None) -> None:
    assert settings.validation_error(settings.SETTINGS["webhook.delivery.tries"], value) == error


def test_non_negative_integers_accept_zero() -> None:
    backoff = settings.SETTINGS["webhook.delivery.retry.backoff"]
    assert settings.validation_error(backoff, "0") is None
    assert settings.validation_error(backoff, "-1") == (
        "Please enter a non-negative value for the configuration parameter:"
        "webhook.delivery.retry.backoff")


@pytest.mark.parametrize("value, ok", [("true", True), ("false", True), ("yes", False),
                                       ("1", False), ("", False), (None, False)])
def test_boolean_validation(value: str | None, ok: bool) -> None:
    error = settings.validation_error(settings.SETTINGS["webhook.delivery.allow.http"], value)
    assert error == (None if ok else "Please enter either 'true' or 'false'.")


@pytest.mark.parametrize("value, ok", [("1.5", True), ("-2", True), ("3e2", True),
                                       (".5", True), ("abc", False), ("1,5", False),
                                       ("nan", False), (None, False)])
def test_decimal_validation(value: str | None, ok: bool) -> None:
    ratio = Setting("x.ratio", float, "1.0")
    error = settings.validation_error(ratio, value)
    shown = "null" if value is None else value
    assert error == (None if ok else f"There was error in trying to parse value: {shown}. "
                     "Please enter a valid float value for parameter x.ratio")


def test_blocklist_must_parse_as_cidrs() -> None:
    blocklist = settings.SETTINGS["webhook.delivery.blocklist"]
    assert settings.validation_error(blocklist, "10.0.0.0/8, fd00::/8,192.0.2.1") is None
    assert settings.validation_error(blocklist, "") is None  # an empty list blocks nothing
    assert settings.validation_error(blocklist, "10.0.0.0/8,10.0.0.0/33") == (
        "Invalid CIDR [10.0.0.0/33] in webhook delivery blocklist, expected a comma separated "
        "list such as 169.254.0.0/16,fe80::/10")


def test_signature_encoding_is_hex_or_base64() -> None:
    encoding = settings.SETTINGS["webhook.signature.encoding"]
    assert settings.validation_error(encoding, "hex") is None
    assert settings.validation_error(encoding, "base64") is None
    for bad in ("HEX", "base32", ""):
        assert settings.validation_error(encoding, bad) == (
            "The provided value is not a valid value for this configuration (Options are: "
            "[hex, base64]).")


# --- the look-up walk ---------------------------------------------------------------------

def test_domain_value_wins_only_in_that_domain(state: Any) -> None:
    child, _ = create_domain(state, "child")
    other, _ = create_domain(state, "other")
    put(state, name="webhook.delivery.tries", value="5", domain_id=child)
    assert lookup(state, "webhook.delivery.tries", domain_id=child) == 5
    assert lookup(state, "webhook.delivery.tries", domain_id=other) == 3
    assert lookup(state, "webhook.delivery.tries") == 3


def test_sub_domains_inherit_only_when_enabled(state: Any) -> None:
    child, _ = create_domain(state, "child")
    grand, _ = create_domain(state, "grand", parent_id=child)
    great, _ = create_domain(state, "great", parent_id=grand)
    put(state, name="webhook.delivery.tries", value="5", domain_id=child)
    put(state, name="webhook.delivery.timeout", value="30", domain_id=1)
    assert lookup(state, "webhook.delivery.tries", domain_id=great) == 3
    assert lookup(state, "webhook.delivery.timeout", domain_id=great) == 10
    put(state, name="enable.domain.settings.for.child.domain", value="true")
    assert lookup(state, "webhook.delivery.tries", domain_id=great) == 5
    assert lookup(state, "webhook.delivery.timeout", domain_id=great) == 30  # from ROOT
    put(state, name="webhook.delivery.tries", value="2", domain_id=grand)
    assert lookup(state, "webhook.delivery.tries", domain_id=great) == 2  # nearest wins
    assert lookup(state, "webhook.delivery.tries", domain_id=child) == 5


def test_global_value_then_default(state: Any) -> None:
    child, _ = create_domain(state, "child")
    put(state, name="webhook.delivery.tries", value="4")
    assert lookup(state, "webhook.delivery.tries", domain_id=child) == 4
    put(state, name="webhook.delivery.tries", value=None)
    assert lookup(state, "webhook.delivery.tries", domain_id=child) == 3
    put(state, name="webhook.delivery.tries", value="garbage")  # unparseable: the default
    assert lookup(state, "webhook.delivery.tries") == 3


def test_domain_setting_for_an_account_reads_the_accounts_domain(app: Any, state: Any) -> None:
    child, _ = create_domain(state, "child")
    tenant = create_tenant(app, state, "alice", domain_id=child)
    put(state, name="webhook.signature.encoding", value="base64", domain_id=child)
    assert lookup(state, "webhook.signature.encoding", account_id=tenant.account_id) == "base64"


def test_account_value_falls_back_to_global_unless_domain_settings_are_enabled(
        app: Any, state: Any, account_setting: Setting) -> None:
    child, _ = create_domain(state, "child")
    grand, _ = create_domain(state, "grand", parent_id=child)
    alice = create_tenant(app, state, "alice", domain_id=grand)
    bob = create_tenant(app, state, "bob", domain_id=grand)
    put(state, name="test.account.quota", value="9", account_id=alice.account_id)
    put(state, name="test.account.quota", value="11", domain_id=child)
    assert lookup(state, "test.account.quota", account_id=alice.account_id) == 9
    assert lookup(state, "test.account.quota", account_id=bob.account_id) == 7
    put(state, name="enable.account.settings.for.domain", value="true")
    assert lookup(state, "test.account.quota", account_id=bob.account_id) == 7  # grand only
    put(state, name="enable.domain.settings.for.child.domain", value="true")
    assert lookup(state, "test.account.quota", account_id=bob.account_id) == 11
    assert lookup(state, "test.account.quota", account_id=alice.account_id) == 9


def test_unknown_names_raise(state: Any) -> None:
    with transaction(state.sessions) as db, pytest.raises(KeyError):
        settings.value(db, "no.such.setting")


def test_aliases_read_the_canonical_value(state: Any) -> None:
    put(state, name="webhook.dispatch.history.limit", value="42")
    assert lookup(state, "webhook.deliveries.limit") == 42

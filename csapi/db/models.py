"""SQLAlchemy models: CloudStack's own tables, names and columns.

The migrations in db/upgrade/ create exactly these tables; tests/test_schema.py checks that both
agree. `webhook` and `webhook_delivery` follow the design document column for column.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# CloudStack ids are `bigint unsigned`; SQLite only auto-increments INTEGER PRIMARY KEY.
ID = (
    BigInteger()
    .with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")
    .with_variant(Integer(), "sqlite")
)


class Base(DeclarativeBase):
    pass


def pk() -> Mapped[int]:
    return mapped_column(ID, primary_key=True, autoincrement=True)


def ref(target: str | None = None, *, nullable: bool = False, ondelete: str | None = None):
    if target is None:
        return mapped_column(ID, nullable=nullable)
    return mapped_column(ID, ForeignKey(target, ondelete=ondelete), nullable=nullable)


class Domain(Base):
    __tablename__ = "domain"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(40), unique=True)
    parent: Mapped[int | None] = ref(nullable=True)
    name: Mapped[str | None] = mapped_column(String(255))
    owner: Mapped[int] = ref()
    path: Mapped[str] = mapped_column(String(255))
    level: Mapped[int] = mapped_column(Integer, default=0)
    child_count: Mapped[int] = mapped_column(Integer, default=0)
    next_child_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    state: Mapped[str] = mapped_column(CHAR(32), default="Active")
    network_domain: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime | None] = mapped_column(DateTime)
    removed: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("i_domain__path", "path"), Index("i_domain__parent", "parent"))


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    role_type: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    public_role: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(255), default="ENABLED")
    removed: Mapped[datetime | None] = mapped_column(DateTime)


class RolePermission(Base):
    __tablename__ = "role_permissions"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(255), unique=True)
    role_id: Mapped[int] = ref("roles.id", ondelete="CASCADE")
    rule: Mapped[str] = mapped_column(String(255))
    permission: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(BigInteger, default=0)


class Account(Base):
    __tablename__ = "account"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(40), unique=True)
    account_name: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[int] = mapped_column(Integer)
    role_id: Mapped[int | None] = ref(nullable=True)
    domain_id: Mapped[int] = ref("domain.id")
    state: Mapped[str] = mapped_column(String(10), default="enabled")
    network_domain: Mapped[str | None] = mapped_column(String(255))
    cleanup_needed: Mapped[bool] = mapped_column(Boolean, default=False)
    default: Mapped[bool] = mapped_column(Boolean, default=False)
    api_key_access: Mapped[bool | None] = mapped_column(Boolean)
    created: Mapped[datetime | None] = mapped_column(DateTime)
    removed: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("i_account__domain_id", "domain_id"),)


class User(Base):
    __tablename__ = "user"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(40), unique=True)
    username: Mapped[str] = mapped_column(String(255))
    password: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[int] = ref("account.id")
    firstname: Mapped[str | None] = mapped_column(String(255))
    lastname: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(10), default="enabled")
    api_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Encrypted at rest like every other secret (csapi.crypto).
    secret_key: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str | None] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(40), default="native")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    login_attempts: Mapped[int] = mapped_column(Integer, default=0)
    api_key_access: Mapped[bool | None] = mapped_column(Boolean)
    created: Mapped[datetime | None] = mapped_column(DateTime)
    removed: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("i_user__account_id", "account_id"),)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    display_text: Mapped[str | None] = mapped_column(String(255))
    project_account_id: Mapped[int] = ref("account.id")
    domain_id: Mapped[int] = ref("domain.id")
    state: Mapped[str] = mapped_column(String(255), default="Active")
    created: Mapped[datetime | None] = mapped_column(DateTime)
    removed: Mapped[datetime | None] = mapped_column(DateTime)


class ProjectAccount(Base):
    __tablename__ = "project_account"
    id: Mapped[int] = pk()
    account_id: Mapped[int] = ref("account.id", ondelete="CASCADE")
    user_id: Mapped[int | None] = ref(nullable=True)
    account_role: Mapped[str] = mapped_column(String(255), default="Regular")
    project_role_id: Mapped[int | None] = ref(nullable=True)
    project_account_id: Mapped[int] = ref("account.id", ondelete="CASCADE")
    project_id: Mapped[int] = ref("projects.id", ondelete="CASCADE")
    created: Mapped[datetime | None] = mapped_column(DateTime)


class Configuration(Base):
    __tablename__ = "configuration"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    category: Mapped[str] = mapped_column(String(255), default="Advanced")
    instance: Mapped[str] = mapped_column(String(255), default="DEFAULT")
    component: Mapped[str] = mapped_column(String(255), default="management-server")
    value: Mapped[str | None] = mapped_column(String(8191))
    # TEXT: two varchar(8191) columns exceed the utf8mb4 row size limit on MySQL.
    default_value: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(1024))
    scope: Mapped[str | None] = mapped_column(String(255))
    is_dynamic: Mapped[bool] = mapped_column(Boolean, default=False)
    updated: Mapped[datetime | None] = mapped_column(DateTime)


class DomainDetail(Base):
    __tablename__ = "domain_details"
    id: Mapped[int] = pk()
    domain_id: Mapped[int] = ref("domain.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(4096))
    __table_args__ = (Index("i_domain_details__domain_id", "domain_id"),)


class AccountDetail(Base):
    __tablename__ = "account_details"
    id: Mapped[int] = pk()
    account_id: Mapped[int] = ref("account.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(4096))
    __table_args__ = (Index("i_account_details__account_id", "account_id"),)


class Event(Base):
    __tablename__ = "event"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32), default="Completed")
    description: Mapped[str] = mapped_column(String(1024))
    user_id: Mapped[int] = ref()
    account_id: Mapped[int] = ref()
    domain_id: Mapped[int] = ref()
    resource_id: Mapped[int | None] = ref(nullable=True)
    resource_type: Mapped[str | None] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(DateTime)
    level: Mapped[str] = mapped_column(String(16), default="INFO")
    start_id: Mapped[int] = mapped_column(ID, default=0)
    parameters: Mapped[str | None] = mapped_column(String(1024))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    display: Mapped[bool] = mapped_column(Boolean, default=True)
    __table_args__ = (
        Index("i_event__created", "created"),
        Index("i_event__account_id", "account_id"),
        Index("i_event__type", "type"),
    )


class AsyncJob(Base):
    __tablename__ = "async_job"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = ref()
    account_id: Mapped[int] = ref()
    job_cmd: Mapped[str] = mapped_column(String(255))
    job_cmd_info: Mapped[str | None] = mapped_column(Text)
    job_status: Mapped[int] = mapped_column(Integer, default=0)
    job_process_status: Mapped[int] = mapped_column(Integer, default=0)
    job_result_code: Mapped[int] = mapped_column(Integer, default=0)
    job_result: Mapped[str | None] = mapped_column(Text)
    instance_type: Mapped[str | None] = mapped_column(String(64))
    instance_id: Mapped[int | None] = ref(nullable=True)
    job_init_msid: Mapped[int | None] = ref(nullable=True)
    job_executing_msid: Mapped[int | None] = ref(nullable=True)
    created: Mapped[datetime | None] = mapped_column(DateTime)
    last_updated: Mapped[datetime | None] = mapped_column(DateTime)
    completed: Mapped[datetime | None] = mapped_column(DateTime)
    removed: Mapped[datetime | None] = mapped_column(DateTime)


class ManagementServer(Base):
    __tablename__ = "mshost"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(40), unique=True)
    msid: Mapped[int] = mapped_column(ID, unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(255))
    service_ip: Mapped[str] = mapped_column(String(45))
    service_port: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), default="Up")
    last_update: Mapped[datetime | None] = mapped_column(DateTime)
    removed: Mapped[datetime | None] = mapped_column(DateTime)


class SSHKeyPair(Base):
    __tablename__ = "ssh_keypairs"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(40), unique=True)
    account_id: Mapped[int] = ref("account.id", ondelete="CASCADE")
    domain_id: Mapped[int] = ref("domain.id", ondelete="CASCADE")
    keypair_name: Mapped[str] = mapped_column(String(256))
    fingerprint: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("i_ssh_keypairs__account_id", "account_id"),)


class DataCenter(Base):
    __tablename__ = "data_center"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    dns1: Mapped[str] = mapped_column(String(255))
    internal_dns1: Mapped[str] = mapped_column(String(255))
    networktype: Mapped[str] = mapped_column(String(255), default="Advanced")
    allocation_state: Mapped[str] = mapped_column(String(32), default="Enabled")
    domain_id: Mapped[int | None] = ref(nullable=True)
    zone_token: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), default="Core")
    created: Mapped[datetime | None] = mapped_column(DateTime)
    removed: Mapped[datetime | None] = mapped_column(DateTime)


class Webhook(Base):
    __tablename__ = "webhook"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(4096))
    state: Mapped[str] = mapped_column(CHAR(32))
    domain_id: Mapped[int] = ref()
    account_id: Mapped[int] = ref("account.id", ondelete="CASCADE")
    payload_url: Mapped[str | None] = mapped_column(String(255))
    # AES-GCM ciphertext (csapi.crypto); never the secret itself.
    secret_key: Mapped[str | None] = mapped_column(String(255))
    ssl_verification: Mapped[bool | None] = mapped_column(Boolean)
    scope: Mapped[str] = mapped_column(CHAR(32))
    created: Mapped[datetime | None] = mapped_column(DateTime)
    removed: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        Index("i_webhook__account_id", "account_id"),
        # One per branch of csapi.webhooks.matching (db/upgrade 0003).
        Index("i_webhook__account_id__state", "account_id", "state"),
        Index("i_webhook__domain_id__state", "domain_id", "state"),
        Index("i_webhook__scope__state", "scope", "state"),
        Index("i_webhook__uuid", "uuid"),  # API ids are uuids (db/upgrade 0003)
    )


class WebhookDelivery(Base):
    __tablename__ = "webhook_delivery"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[int] = ref("event.id", ondelete="CASCADE")
    webhook_id: Mapped[int] = ref("webhook.id", ondelete="CASCADE")
    mshost_msid: Mapped[int] = ref()
    headers: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)
    success: Mapped[bool | None] = mapped_column(Boolean)
    response: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime | None] = mapped_column(DateTime)
    end_time: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        Index("i_webhook__event_id", "event_id"),
        Index("i_webhook__webhook_id", "webhook_id"),
        Index("i_webhook_delivery__uuid", "uuid"),
    )


class WebhookFilter(Base):
    __tablename__ = "webhook_filter"
    id: Mapped[int] = pk()
    uuid: Mapped[str | None] = mapped_column(String(255))
    webhook_id: Mapped[int] = ref("webhook.id", ondelete="CASCADE")
    type: Mapped[str | None] = mapped_column(String(20))
    mode: Mapped[str | None] = mapped_column(String(20))
    match_type: Mapped[str | None] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(256))
    created: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        Index("i_webhook_filter__webhook_id", "webhook_id"),
        Index("i_webhook_filter__uuid", "uuid"),
    )


# --- csapi's own tables (beyond CloudStack): the durable webhook queue ----------------------


class WebhookDispatchEvent(Base):
    """An ActionEvent waiting to be fanned out to webhooks. Written in the transaction that
    records the event, so no event is lost between commit and dispatch."""

    __tablename__ = "webhook_dispatch_event"
    id: Mapped[int] = pk()
    event_id: Mapped[int] = ref("event.id", ondelete="CASCADE")
    payload: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime)


class WebhookDispatchJob(Base):
    """One (event, webhook) delivery still to be made. Claimed by a management server with a
    lease; deleted in the transaction that writes its `webhook_delivery` row."""

    __tablename__ = "webhook_dispatch_job"
    id: Mapped[int] = pk()
    event_id: Mapped[int] = ref("event.id", ondelete="CASCADE")
    webhook_id: Mapped[int] = ref("webhook.id", ondelete="CASCADE")
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime] = mapped_column(DateTime)
    claimed_by: Mapped[int | None] = ref(nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # The previous try's outcome, kept while waiting for the next one (retry backoff).
    last_response: Mapped[str | None] = mapped_column(Text)
    last_start: Mapped[datetime | None] = mapped_column(DateTime)
    created: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        Index("i_webhook_dispatch_job__next_attempt", "next_attempt"),
        Index("i_webhook_dispatch_job__webhook_id", "webhook_id"),
    )

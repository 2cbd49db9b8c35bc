"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# CloudStack's `bigint unsigned` ids; SQLite auto-increments only INTEGER PRIMARY KEY.
ID = (
    sa.BigInteger()
    .with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")
    .with_variant(sa.Integer(), "sqlite")
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_job",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("job_cmd", sa.String(length=255), nullable=False),
        sa.Column("job_cmd_info", sa.Text(), nullable=True),
        sa.Column("job_status", sa.Integer(), nullable=False),
        sa.Column("job_process_status", sa.Integer(), nullable=False),
        sa.Column("job_result_code", sa.Integer(), nullable=False),
        sa.Column("job_result", sa.Text(), nullable=True),
        sa.Column("instance_type", sa.String(length=64), nullable=True),
        sa.Column("instance_id", ID, nullable=True),
        sa.Column("job_init_msid", ID, nullable=True),
        sa.Column("job_executing_msid", ID, nullable=True),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("last_updated", sa.DateTime(), nullable=True),
        sa.Column("completed", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_table(
        "configuration",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=255), nullable=False),
        sa.Column("instance", sa.String(length=255), nullable=False),
        sa.Column("component", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=8191), nullable=True),
        sa.Column("default_value", sa.Text(), nullable=True),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("scope", sa.String(length=255), nullable=True),
        sa.Column("is_dynamic", sa.Boolean(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "data_center",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("dns1", sa.String(length=255), nullable=False),
        sa.Column("internal_dns1", sa.String(length=255), nullable=False),
        sa.Column("networktype", sa.String(length=255), nullable=False),
        sa.Column("allocation_state", sa.String(length=32), nullable=False),
        sa.Column("domain_id", ID, nullable=True),
        sa.Column("zone_token", sa.String(length=255), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_table(
        "domain",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=True),
        sa.Column("parent", ID, nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("owner", ID, nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("child_count", sa.Integer(), nullable=False),
        sa.Column("next_child_seq", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.CHAR(length=32), nullable=False),
        sa.Column("network_domain", sa.String(length=255), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("domain", schema=None) as batch_op:
        batch_op.create_index("i_domain__parent", ["parent"], unique=False)
        batch_op.create_index("i_domain__path", ["path"], unique=False)

    op.create_table(
        "event",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("resource_id", ID, nullable=True),
        sa.Column("resource_type", sa.String(length=32), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("start_id", ID, nullable=False),
        sa.Column("parameters", sa.String(length=1024), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("display", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("i_event__account_id", ["account_id"], unique=False)
        batch_op.create_index("i_event__created", ["created"], unique=False)
        batch_op.create_index("i_event__type", ["type"], unique=False)

    op.create_table(
        "mshost",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=True),
        sa.Column("msid", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("service_ip", sa.String(length=45), nullable=False),
        sa.Column("service_port", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("last_update", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("msid"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_table(
        "roles",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role_type", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("public_role", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=255), nullable=False),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_table(
        "account",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=True),
        sa.Column("account_name", sa.String(length=100), nullable=True),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("role_id", ID, nullable=True),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("network_domain", sa.String(length=255), nullable=True),
        sa.Column("cleanup_needed", sa.Boolean(), nullable=False),
        sa.Column("default", sa.Boolean(), nullable=False),
        sa.Column("api_key_access", sa.Boolean(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domain.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_index("i_account__domain_id", ["domain_id"], unique=False)

    op.create_table(
        "domain_details",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=4096), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domain.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("domain_details", schema=None) as batch_op:
        batch_op.create_index(
            "i_domain_details__domain_id", ["domain_id"], unique=False
        )

    op.create_table(
        "role_permissions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=True),
        sa.Column("role_id", ID, nullable=False),
        sa.Column("rule", sa.String(length=255), nullable=False),
        sa.Column("permission", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_table(
        "account_details",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=4096), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("account_details", schema=None) as batch_op:
        batch_op.create_index(
            "i_account_details__account_id", ["account_id"], unique=False
        )

    op.create_table(
        "projects",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("display_text", sa.String(length=255), nullable=True),
        sa.Column("project_account_id", ID, nullable=False),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("state", sa.String(length=255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domain.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_table(
        "ssh_keypairs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=True),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("keypair_name", sa.String(length=256), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["domain_id"], ["domain.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("ssh_keypairs", schema=None) as batch_op:
        batch_op.create_index(
            "i_ssh_keypairs__account_id", ["account_id"], unique=False
        )

    op.create_table(
        "user",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password", sa.String(length=255), nullable=True),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("firstname", sa.String(length=255), nullable=True),
        sa.Column("lastname", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("api_key", sa.String(length=255), nullable=True),
        sa.Column("secret_key", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=30), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("login_attempts", sa.Integer(), nullable=False),
        sa.Column("api_key_access", sa.Boolean(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("api_key"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.create_index("i_user__account_id", ["account_id"], unique=False)

    op.create_table(
        "webhook",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=4096), nullable=True),
        sa.Column("state", sa.CHAR(length=32), nullable=False),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("payload_url", sa.String(length=255), nullable=True),
        sa.Column("secret_key", sa.String(length=255), nullable=True),
        sa.Column("ssl_verification", sa.Boolean(), nullable=True),
        sa.Column("scope", sa.CHAR(length=32), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.create_index("i_webhook__account_id", ["account_id"], unique=False)

    op.create_table(
        "project_account",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("account_role", sa.String(length=255), nullable=False),
        sa.Column("project_role_id", ID, nullable=True),
        sa.Column("project_account_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["project_account_id"], ["account.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=True),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("webhook_id", ID, nullable=False),
        sa.Column("mshost_msid", ID, nullable=False),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("start_time", sa.DateTime(), nullable=True),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index("i_webhook__event_id", ["event_id"], unique=False)
        batch_op.create_index("i_webhook__webhook_id", ["webhook_id"], unique=False)

    op.create_table(
        "webhook_filter",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=True),
        sa.Column("webhook_id", ID, nullable=False),
        sa.Column("type", sa.String(length=20), nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=True),
        sa.Column("match_type", sa.String(length=20), nullable=True),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_filter", schema=None) as batch_op:
        batch_op.create_index(
            "i_webhook_filter__webhook_id", ["webhook_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_filter", schema=None) as batch_op:
        batch_op.drop_index("i_webhook_filter__webhook_id")

    op.drop_table("webhook_filter")
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index("i_webhook__webhook_id")
        batch_op.drop_index("i_webhook__event_id")

    op.drop_table("webhook_delivery")
    op.drop_table("project_account")
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_index("i_webhook__account_id")

    op.drop_table("webhook")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_index("i_user__account_id")

    op.drop_table("user")
    with op.batch_alter_table("ssh_keypairs", schema=None) as batch_op:
        batch_op.drop_index("i_ssh_keypairs__account_id")

    op.drop_table("ssh_keypairs")
    op.drop_table("projects")
    with op.batch_alter_table("account_details", schema=None) as batch_op:
        batch_op.drop_index("i_account_details__account_id")

    op.drop_table("account_details")
    op.drop_table("role_permissions")
    with op.batch_alter_table("domain_details", schema=None) as batch_op:
        batch_op.drop_index("i_domain_details__domain_id")

    op.drop_table("domain_details")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index("i_account__domain_id")

    op.drop_table("account")
    op.drop_table("roles")
    op.drop_table("mshost")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("i_event__type")
        batch_op.drop_index("i_event__created")
        batch_op.drop_index("i_event__account_id")

    op.drop_table("event")
    with op.batch_alter_table("domain", schema=None) as batch_op:
        batch_op.drop_index("i_domain__path")
        batch_op.drop_index("i_domain__parent")

    op.drop_table("domain")
    op.drop_table("data_center")
    op.drop_table("configuration")
    op.drop_table("async_job")

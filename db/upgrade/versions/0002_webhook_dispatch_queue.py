"""webhook dispatch queue: events awaiting fan-out and delivery jobs with leases

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

ID = sa.BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb").with_variant(
    sa.Integer(), "sqlite"
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_dispatch_event",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_dispatch_job",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("webhook_id", ID, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", ID, nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        sa.Column("last_start", sa.DateTime(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "i_webhook_dispatch_job__next_attempt", "webhook_dispatch_job", ["next_attempt"]
    )
    op.create_index(
        "i_webhook_dispatch_job__webhook_id", "webhook_dispatch_job", ["webhook_id"]
    )


def downgrade() -> None:
    op.drop_table("webhook_dispatch_job")
    op.drop_table("webhook_dispatch_event")

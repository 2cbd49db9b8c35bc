"""indexes for matching an event's webhooks, and for finding webhook rows by uuid

Each branch of the match (Local: the owner account's; Domain: those of the event's domain and
its ancestors; Global) reads only enabled webhooks through its own index, so fanning an event
out does not scan every webhook. The API names webhooks, deliveries and filters by uuid.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("i_webhook__account_id__state", "webhook", ["account_id", "state"])
    op.create_index("i_webhook__domain_id__state", "webhook", ["domain_id", "state"])
    op.create_index("i_webhook__scope__state", "webhook", ["scope", "state"])
    op.create_index("i_webhook__uuid", "webhook", ["uuid"])
    op.create_index("i_webhook_delivery__uuid", "webhook_delivery", ["uuid"])
    op.create_index("i_webhook_filter__uuid", "webhook_filter", ["uuid"])


def downgrade() -> None:
    op.drop_index("i_webhook_filter__uuid", "webhook_filter")
    op.drop_index("i_webhook_delivery__uuid", "webhook_delivery")
    op.drop_index("i_webhook__uuid", "webhook")
    op.drop_index("i_webhook__scope__state", "webhook")
    op.drop_index("i_webhook__domain_id__state", "webhook")
    op.drop_index("i_webhook__account_id__state", "webhook")

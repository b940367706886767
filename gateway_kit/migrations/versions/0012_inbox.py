"""core: in-app notifications (each user's inbox)"""

import sqlalchemy as sa
from alembic import op

revision = "0012_inbox"
down_revision = "0011_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("link", sa.String(500), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_inbox_notifications_user_id", "inbox_notifications", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_notifications_user_id", "inbox_notifications")
    op.drop_table("inbox_notifications")

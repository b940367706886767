"""burst: operators' pool sizes (the console's resize)"""

import sqlalchemy as sa
from alembic import op

revision = "0012_burst_pool_sizes"
down_revision = "0006_burst"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "burst_pool_sizes",
        sa.Column("destination", sa.String(64), primary_key=True),
        sa.Column("min_instances", sa.Integer(), nullable=False),
        sa.Column("max_instances", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("burst_pool_sizes")

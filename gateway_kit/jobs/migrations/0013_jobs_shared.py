"""jobs: a job's results shared with its project's members"""

import sqlalchemy as sa
from alembic import op

revision = "0013_jobs_shared"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("shared")

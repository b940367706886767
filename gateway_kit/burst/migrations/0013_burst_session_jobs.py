"""burst: jobs without a jobs row (interactive sessions run as burst jobs with negative ids)"""

import sqlalchemy as sa
from alembic import op

revision = "0013_burst_session_jobs"
down_revision = "0012_burst_pool_sizes"
branch_labels = None
depends_on = None

#: SQLite keeps the constraint unnamed: batch mode finds it by this convention.
SQLITE_FK = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("burst_jobs", naming_convention=SQLITE_FK) as batch:
            batch.drop_constraint("fk_burst_jobs_job_id_jobs", type_="foreignkey")
    else:
        op.drop_constraint("burst_jobs_job_id_fkey", "burst_jobs", type_="foreignkey")


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM burst_jobs WHERE job_id NOT IN (SELECT id FROM jobs)"))
    with op.batch_alter_table("burst_jobs") as batch:
        batch.create_foreign_key("burst_jobs_job_id_fkey", "jobs", ["job_id"], ["id"], ondelete="CASCADE")

"""burst: pool instances and burst job placements"""

import sqlalchemy as sa
from alembic import op

revision = "0006_burst"
down_revision = "0001_core"
branch_labels = ("burst",)
depends_on = ("0003_jobs",)

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "burst_instances",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("server_id", sa.String(64), nullable=True),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("ram_mb", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("su_per_hour", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("token_expires", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("active_at", TZ, nullable=True),
        sa.Column("heartbeat_at", TZ, nullable=True),
        sa.Column("idle_since", TZ, nullable=True),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.Column("su_charged", sa.Float(), nullable=False),
        sa.Column("charged_until", TZ, nullable=True),
        sa.Column("settled", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_burst_instances_dest_state", "burst_instances", ["destination", "state"])
    op.create_index("ix_burst_instances_token_hash", "burst_instances", ["token_hash"])
    op.create_table(
        "burst_jobs",
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column(
            "instance_id",
            sa.Integer(),
            sa.ForeignKey("burst_instances.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("wait_reason", sa.Text(), nullable=False),
        sa.Column("requeues", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("instance_name", sa.String(255), nullable=False),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("su_share", sa.Float(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("assigned_at", TZ, nullable=True),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
    )
    op.create_index("ix_burst_jobs_dest_state", "burst_jobs", ["destination", "state"])
    op.create_index("ix_burst_jobs_instance", "burst_jobs", ["instance_id"])


def downgrade() -> None:
    op.drop_table("burst_jobs")
    op.drop_table("burst_instances")

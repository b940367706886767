"""sessions: interactive sessions, their events and shares"""

import sqlalchemy as sa
from alembic import op

revision = "0008_sessions"
down_revision = "0001_core"
branch_labels = ("sessions",)
depends_on = ("0003_jobs",)

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("app_version", sa.String(32), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("workdir", sa.String(1000), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("launcher_state", sa.JSON(), nullable=True),
        sa.Column("backend_host", sa.String(255), nullable=False),
        sa.Column("backend_port", sa.Integer(), nullable=False),
        sa.Column("backend_token", sa.String(128), nullable=False),
        sa.Column("end_requested", sa.Boolean(), nullable=False),
        sa.Column("idle_timeout", sa.Float(), nullable=False),
        sa.Column("su_reserved", sa.Float(), nullable=False),
        sa.Column("su_charged", sa.Float(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("ready_at", TZ, nullable=True),
        sa.Column("last_activity", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
    )
    op.create_index("ix_sessions_sessions_state", "sessions_sessions", ["state"])
    op.create_index("ix_sessions_sessions_user", "sessions_sessions", ["user_id", "id"])
    op.create_table(
        "sessions_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("sessions_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", TZ, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index("ix_sessions_events_session", "sessions_events", ["session_id", "id"])
    op.create_table(
        "sessions_shares",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("sessions_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("session_id", "user_id", name="uq_sessions_shares"),
    )


def downgrade() -> None:
    op.drop_table("sessions_shares")
    op.drop_index("ix_sessions_events_session", "sessions_events")
    op.drop_table("sessions_events")
    op.drop_index("ix_sessions_sessions_user", "sessions_sessions")
    op.drop_index("ix_sessions_sessions_state", "sessions_sessions")
    op.drop_table("sessions_sessions")

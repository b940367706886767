"""sessions: workshops and their seats"""

import sqlalchemy as sa
from alembic import op

revision = "0009_sessions_workshops"
down_revision = "0008_sessions"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions_workshops",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column(
            "instructor_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("ends_at", TZ, nullable=False),
        sa.Column("join_code", sa.String(32), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "sessions_workshop_seats",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "workshop_id",
            sa.Integer(),
            sa.ForeignKey("sessions_workshops.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("sessions_sessions.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("joined_at", TZ, nullable=False),
        sa.UniqueConstraint("workshop_id", "user_id", name="uq_sessions_workshop_seats"),
    )


def downgrade() -> None:
    op.drop_table("sessions_workshop_seats")
    op.drop_table("sessions_workshops")

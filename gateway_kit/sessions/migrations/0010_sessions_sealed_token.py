"""sessions: room for the sealed server token"""

import sqlalchemy as sa
from alembic import op

revision = "0010_sessions_sealed_token"
down_revision = "0009_sessions_workshops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions_sessions") as batch:
        batch.alter_column("backend_token", type_=sa.String(512), existing_type=sa.String(128))


def downgrade() -> None:
    with op.batch_alter_table("sessions_sessions") as batch:
        batch.alter_column("backend_token", type_=sa.String(128), existing_type=sa.String(512))

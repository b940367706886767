"""certs: ACME accounts, certificates, renewal attempts, pending challenges"""

import sqlalchemy as sa
from alembic import op

revision = "0005_certs"
down_revision = "0001_core"
branch_labels = ("certs",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "certs_accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("directory_url", sa.String(500), nullable=False, unique=True),
        sa.Column("uri", sa.String(500), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "certs_certificates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("directory_url", sa.String(500), nullable=False),
        sa.Column("staging", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("not_before", TZ, nullable=True),
        sa.Column("not_after", TZ, nullable=True),
        sa.Column("load_balancer", sa.String(255), nullable=False),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.Column("last_attempt_at", TZ, nullable=True),
        sa.Column("last_result", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "certs_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "certificate_id",
            sa.Integer(),
            sa.ForeignKey("certs_certificates.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index("ix_certs_attempts_certificate_id", "certs_attempts", ["certificate_id"])
    op.create_table(
        "certs_pending_challenges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cloud", sa.String(255), nullable=False),
        sa.Column("zone_id", sa.String(64), nullable=False),
        sa.Column("record_name", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("certificate_name", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("certs_pending_challenges")
    op.drop_index("ix_certs_attempts_certificate_id", table_name="certs_attempts")
    op.drop_table("certs_attempts")
    op.drop_table("certs_certificates")
    op.drop_table("certs_accounts")

"""data: datasets, dataset files, uploads and their chunks"""

import sqlalchemy as sa
from alembic import op

revision = "0007_data"
down_revision = "0001_core"
branch_labels = ("data",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "data_datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("license", sa.String(100), nullable=False),
        sa.Column("doi", sa.String(200), nullable=False),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("dns_name", sa.String(255), nullable=True, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_data_datasets_project_id", "data_datasets", ["project_id"])
    op.create_table(
        "data_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id", sa.Integer(), sa.ForeignKey("data_datasets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("dataset_id", "path"),
    )
    op.create_index("ix_data_files_dataset_id", "data_files", ["dataset_id"])
    op.create_table(
        "data_uploads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "dataset_id", sa.Integer(), sa.ForeignKey("data_datasets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_data_uploads_dataset_id", "data_uploads", ["dataset_id"])
    op.create_table(
        "data_upload_chunks",
        sa.Column(
            "upload_id", sa.String(64), sa.ForeignKey("data_uploads.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("data_upload_chunks")
    op.drop_index("ix_data_uploads_dataset_id", "data_uploads")
    op.drop_table("data_uploads")
    op.drop_index("ix_data_files_dataset_id", "data_files")
    op.drop_table("data_files")
    op.drop_index("ix_data_datasets_project_id", "data_datasets")
    op.drop_table("data_datasets")

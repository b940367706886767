"""The identity feature's Alembic revisions (branch ``identity``)."""

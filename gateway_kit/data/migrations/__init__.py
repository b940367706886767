"""The data feature's Alembic revisions (branch ``data``)."""

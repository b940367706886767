"""The hosting feature's Alembic revisions (branch ``hosting``)."""

"""The sessions feature's Alembic revisions (branch ``sessions``)."""

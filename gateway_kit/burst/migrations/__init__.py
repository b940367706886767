"""The burst feature's Alembic revisions (branch ``burst``)."""

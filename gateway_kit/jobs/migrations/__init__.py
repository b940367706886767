"""The jobs feature's Alembic revisions (branch ``jobs``)."""

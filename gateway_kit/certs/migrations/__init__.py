"""The certs feature's Alembic revisions (branch ``certs``)."""

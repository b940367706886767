"""Alembic environment: the engine comes from the caller (gateway_kit.db.upgrade)."""

from alembic import context

from gateway_kit.models import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()

"""Alembic environment: always runs on a connection handed over by tillpoint."""

from alembic import context

from tillpoint.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by running plain `alembic`
    raise SystemExit("Run migrations with 'tillpoint db upgrade', not plain alembic.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

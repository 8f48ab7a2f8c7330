"""Alembic environment: runs migrations on a connection handed in by `donatello migrate` or the tests,
or on the configured database (starting the embedded default when none is configured)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from donatello.config import get_settings
from donatello.core.runtime import database_url
from donatello.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        include_schemas=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with database_url(get_settings(), migrate=False) as url:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or url, poolclass=pool.NullPool)
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()

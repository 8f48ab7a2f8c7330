"""Migrations are the source of truth: they round-trip, and the models describe exactly what they build."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool
from sqlalchemy.engine import make_url

from donatello.core import migrations
from donatello.models import TENANT_TABLES, Base


@pytest.fixture
def scratch_database_url(postgres_url: str) -> Iterator[str]:
    """A second, empty database on the same server."""
    url = make_url(postgres_url)
    host = url.query["host"]
    assert isinstance(host, str), "the test server listens on one Unix socket directory"
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS donatello_scratch")
        conn.execute("CREATE DATABASE donatello_scratch")
    yield url.set(database="donatello_scratch").render_as_string(hide_password=False)
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS donatello_scratch WITH (FORCE)")


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trips(scratch_database_url: str) -> None:
    migrations.upgrade(scratch_database_url)
    assert set(Base.metadata.tables) <= _tables(scratch_database_url)

    migrations.downgrade(scratch_database_url, "base")
    assert _tables(scratch_database_url) == {"alembic_version"}

    migrations.upgrade(scratch_database_url)
    assert set(Base.metadata.tables) <= _tables(scratch_database_url)


def test_models_and_migrations_do_not_drift(postgres_url: str) -> None:
    engine = create_engine(postgres_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_every_tenant_table_has_row_level_security(postgres_url: str) -> None:
    engine = create_engine(postgres_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            protected = {
                name
                for (name,) in connection.exec_driver_sql(
                    "SELECT relname FROM pg_class WHERE relrowsecurity AND relkind = 'r'"
                )
            }
            tables_with_org = {
                name
                for (name,) in connection.exec_driver_sql(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND column_name = 'organization_id'"
                )
            }
    finally:
        engine.dispose()
    assert set(TENANT_TABLES) == tables_with_org
    assert protected == tables_with_org | {"organizations"}

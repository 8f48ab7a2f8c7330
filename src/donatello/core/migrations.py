"""Run the alembic migrations programmatically (CLI, `make run`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, pool

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(REPOSITORY_ROOT / "alembic.ini"))
    config.attributes["configure_logging"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (idempotent; concurrent runs serialise on a lock)."""
    engine = create_engine(_sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            # Two processes migrating at once (serve + worker starting together) must not interleave.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7212394)")
            command.upgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    engine = create_engine(_sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def _sync_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql+psycopg://")

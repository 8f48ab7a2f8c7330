"""Pooled connections are checked with a round trip only after sitting idle: a database restart during a
quiet spell costs no request, and a busy server pays no SELECT 1 per request (real PostgreSQL, a backend
killed with pg_terminate_backend)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from donatello.core import database

BACKEND = text("SELECT pg_backend_pid()")


async def _kill(postgres_url: str, pid: int) -> None:
    owner = create_async_engine(postgres_url)
    async with owner.begin() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    await owner.dispose()


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(BACKEND)).scalar_one())


async def test_a_connection_that_died_while_idle_is_replaced_before_anyone_uses_it(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)  # every checkout counts as after a quiet spell
    engine = database.create_engine(postgres_url, app_role="donatello_app", pool_size=1, max_overflow=0)
    try:
        dead = await _backend(engine)
        await _kill(postgres_url, dead)
        assert await _backend(engine) != dead  # no error: the ping found it dead and the pool reconnected
    finally:
        await engine.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 3600.0)  # however slow the machine, still "steady"
    engine = database.create_engine(postgres_url, app_role="donatello_app", pool_size=1, max_overflow=0)
    try:
        dead = await _backend(engine)
        await _kill(postgres_url, dead)
        # reused at once: no round trip before it, so its death shows (the app answers 503) ...
        with pytest.raises(DBAPIError):
            await _backend(engine)
        # ... and the pool replaces it for the next request
        assert await _backend(engine) != dead
    finally:
        await engine.dispose()

"""The readiness probe's one statement."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def answers(engine: AsyncEngine) -> None:
    """Raises unless the database answers a trivial query over a pooled connection."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))

"""Worker processes for tests of the queue: one serving ``Processor`` per connection pool (as separate
processes would be), and waiting until generations complete."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.database import transaction
from donatello.core.jobs import JobContext
from donatello.generations.processing import Processor
from donatello.models import Generation
from donatello.providers import availability_for
from donatello.providers.credentials import ModelCredentials


@asynccontextmanager
async def serving_workers(
    app: FastAPI,
    settings: Settings,
    pools: list[async_sessionmaker[AsyncSession]],
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """One serving worker per connection pool (as separate processes would be), stopped afterwards."""
    contexts = [JobContext(settings, sessions) for sessions in pools]
    async with httpx.AsyncClient(trust_env=False) as http:
        serving = [
            asyncio.create_task(
                Processor(
                    context.sessions,
                    settings,
                    app.state.sealer,
                    app.state.image_store,
                    http,
                    availability_for(None),
                    credentials=ModelCredentials(settings),
                ).serve(context)
            )
            for context in contexts
        ]
        try:
            yield serving
        finally:
            for context in contexts:
                context.stopping.set()
            await asyncio.gather(*serving)


async def until_completed(
    sessions: async_sessionmaker[AsyncSession],
    ids: list[uuid.UUID],
    serving: list[asyncio.Task[None]],
    *,
    within: float,
) -> None:
    started = time.monotonic()
    while (completed := await completed_among(sessions, ids)) < len(ids):
        assert time.monotonic() - started < within, f"only {completed} of {len(ids)} completed in {within} s"
        assert not any(task.done() for task in serving), "a worker stopped"
        await asyncio.sleep(0.25)


async def completed_among(sessions: async_sessionmaker[AsyncSession], ids: list[uuid.UUID]) -> int:
    async with transaction(sessions, platform=True) as session:
        done = await session.scalar(
            select(func.count()).where(Generation.id.in_(ids), Generation.status == "completed")
        )
    return int(done or 0)

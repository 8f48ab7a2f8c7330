"""What a background job is given: settings, a sessionmaker (each job owns its transactions, like the
request edge) and a stop signal it checks between units of work — and the one loop every job runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings

log = logging.getLogger(__name__)

#: A failing step waits its idle pause doubled per failure in a row, up to this many times it.
MAX_BACK_OFF = 64


@dataclass
class JobContext:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until asked to stop, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def repeat(self, step: Callable[[], Awaitable[object]], *, idle: float, what: str) -> None:
        """Run ``step`` until asked to stop: again at once while it reports work done (a truthy result),
        after ``idle`` seconds when it found none. A step that raises is logged and retried after ``idle``
        doubled per failure in a row (at most ``MAX_BACK_OFF`` times), so a database or service that is
        down is not hammered and the job recovers by itself when it returns."""
        failures = 0
        while not self.stopping.is_set():
            try:
                worked = await step()
                failures = 0
            except Exception:
                log.exception("%s failed; retrying", what)
                failures += 1
                worked = False
            if not worked:
                await self.sleep(idle * min(2**failures, MAX_BACK_OFF))

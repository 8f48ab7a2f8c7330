"""What a background job is given: settings, a sessionmaker (each job owns its transactions, like the
request edge) and a stop signal it checks between units of work."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings


@dataclass
class JobContext:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until asked to stop, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

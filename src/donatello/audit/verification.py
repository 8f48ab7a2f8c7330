"""``donatello audit verify``: the audit store (when configured) and a transaction, then
``service.verify``."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.audit import chain, service
from donatello.audit.cosmos import is_configured, open_store
from donatello.config import Settings
from donatello.core.database import transaction


async def run(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    organization_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> chain.Verification:
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(settings)) if is_configured(settings) else None
        async with transaction(sessions, platform=True) as session:
            return await service.verify(session, store, organization_id, since, until)

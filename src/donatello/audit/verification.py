"""``donatello audit verify``: its own engine and transaction, then ``service.verify``."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from datetime import datetime

from donatello.audit import chain, service
from donatello.audit.cosmos import is_configured, open_store
from donatello.config import Settings
from donatello.core.database import create_engine, create_sessionmaker, transaction


async def run(
    settings: Settings,
    url: str,
    organization_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> chain.Verification:
    engine = create_engine(url, app_role=settings.database_app_role, pool_size=1)
    try:
        async with AsyncExitStack() as stack:
            store = await stack.enter_async_context(open_store(settings)) if is_configured(settings) else None
            async with transaction(create_sessionmaker(engine), platform=True) as session:
                return await service.verify(session, store, organization_id, since, until)
    finally:
        await engine.dispose()

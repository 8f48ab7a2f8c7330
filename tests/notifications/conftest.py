from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from tests.support.smtp_server import SmtpServer, smtp_settings


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return smtp_settings(settings, smtp)


@pytest.fixture
async def sessions(db: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """The jobs' transactions, as savepoints of the test's transaction (rolled back afterwards)."""
    return async_sessionmaker(
        bind=await db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )

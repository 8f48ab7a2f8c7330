from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.clock import utcnow
from tests.support.smtp_server import PASSWORD, USERNAME, SmtpServer


class Clock:
    def __init__(self) -> None:
        self.at = utcnow()

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def smtp_settings(settings: Settings, server: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_username": USERNAME,
            "smtp_password": SecretStr(PASSWORD),
            "smtp_starttls": False,
            "smtp_from": "DonatelloAI <notifications@contoso.example>",
            "smtp_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return smtp_settings(settings, smtp)


@pytest.fixture
async def sessions(db: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """The jobs' transactions, as savepoints of the test's transaction (rolled back afterwards)."""
    return async_sessionmaker(
        bind=await db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )

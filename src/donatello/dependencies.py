"""Request-wide dependencies: the one transaction per request, committed at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.core.database import unit_of_work


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """Open the request's transaction; commit when the endpoint returns, roll back if it raises.

    ``scope="function"`` makes the commit happen before the response is sent (FastAPI >= 0.118 would
    otherwise run it afterwards, when a failed commit can no longer change the client's 2xx).
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session, unit_of_work(session):
        yield session


DbSession = Annotated[AsyncSession, Depends(_transaction, scope="function")]

"""Request-wide dependencies: the one transaction per request, committed at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.core import request_context
from donatello.core.database import read_one_snapshot, unit_of_work


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """Open the request's transaction; commit when the endpoint returns, roll back if it raises.

    ``scope="function"`` makes the commit happen before the response is sent (FastAPI >= 0.118 would
    otherwise run it afterwards, when a failed commit can no longer change the client's 2xx). A
    ``DomainError`` with ``keeps_transaction`` (a refusal that is itself a recorded state change, such as
    revoking a stolen refresh token's family) commits and is then rendered as the client's error.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session, unit_of_work(session):
        if getattr(request.scope.get("route"), "reads_one_snapshot", False):
            await read_one_snapshot(session)
        yield session


class SnapshotRoute(APIRoute):
    """A route whose figures combine several statements (reports): its transaction reads one snapshot,
    so a settlement committing mid-request can never make spend, holds and budget disagree."""

    reads_one_snapshot = True


DbSession = Annotated[AsyncSession, Depends(_transaction, scope="function")]


def _device() -> dict[str, Any]:
    """What a session records about the device that opened it."""
    context = request_context.current()
    return {
        "user_agent": context.user_agent if context else None,
        "ip_address": context.ip_address if context else None,
    }


Device = Annotated[dict[str, Any], Depends(_device)]

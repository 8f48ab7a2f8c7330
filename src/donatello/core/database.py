"""Engines, sessions and the per-transaction tenant setting that row-level security reads.

The application connects with any login that may ``SET ROLE`` to the application role (``donatello_app``,
created by the migrations, not a superuser and not the tables' owner), so PostgreSQL's row-level security
applies to every query the application makes. Each transaction then says whose rows it may see with
``set_tenant`` (or ``set_platform_scope`` for the worker and platform administrators); with neither set,
tenant tables look empty — the wall fails closed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from donatello.core import catalogue
from donatello.core.errors import DomainError

TENANT_SETTING = "app.organization_id"
PLATFORM_SETTING = "app.platform_scope"


def create_engine(url: str, *, app_role: str | None, pool_size: int = 10, **kwargs: Any) -> AsyncEngine:
    """An async engine whose every connection acts as ``app_role`` (when given)."""
    engine = create_async_engine(url, pool_size=pool_size, **kwargs)
    _ping_when_idle(engine)
    if app_role:
        role = app_role.replace('"', "")

        @event.listens_for(engine.sync_engine, "connect")
        def _act_as_app_role(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f'SET ROLE "{role}"')
            dbapi_connection.commit()

    return engine


#: A pooled connection left unused this long gets a round trip before it is handed out (the database may
#: have restarted meanwhile, so the first requests after a quiet restart still succeed). One in steady use
#: does not: ``pool_pre_ping`` cost a ``SELECT 1`` on every request. Under load a dead connection fails
#: its request (503) and the pool then replaces every connection older than that failure.
IDLE_PING_SECONDS = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards it and hands out a fresh connection
            raise DisconnectionError(str(error)) from error


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: responses are serialised after the edge commits (``unit_of_work`` below).
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


# Built once: every request runs it, and parsing the text each time cost more than sending it.
_NARROW_TO_TENANT = text(
    "SELECT (SELECT version FROM catalogue_version), "
    "set_config(:name, :value, true), set_config(:platform, 'off', true)"
)


async def set_tenant(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Limit the current transaction to one organization's rows (transaction-local). The same round trip
    reads the catalogue's version, so the catalogue can be served from cache (``core.catalogue``)."""
    version = await session.scalar(
        _NARROW_TO_TENANT,
        {"name": TENANT_SETTING, "value": str(organization_id), "platform": PLATFORM_SETTING},
    )
    if version is not None:
        catalogue.pin(session, version)


async def set_platform_scope(session: AsyncSession) -> None:
    """Let the current transaction see every organization (worker, CLI, platform administrators)."""
    await session.execute(text("SELECT set_config(:name, 'on', true)"), {"name": PLATFORM_SETTING})


async def read_one_snapshot(session: AsyncSession) -> None:
    """Make the transaction REPEATABLE READ: all its statements see the database as of its first one.

    A figure combined from several statements (a budget row, the cost events summed, the holds) is then
    never torn by a settlement committing between them — at READ COMMITTED a live ledger could look
    broken. Must be the transaction's first statement. Writes stay allowed (an export queues a job).
    A session joined to a transaction that is already running (a savepoint inside it) keeps that
    transaction's isolation: PostgreSQL fixes it at the first statement."""
    if isinstance(session.bind, AsyncConnection) and session.bind.in_transaction():
        return
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


async def add_unless_taken(session: AsyncSession, row: Any) -> bool:
    """Insert ``row``; False when a unique constraint says it is already taken. The attempt runs in a
    savepoint, so the surrounding transaction stays usable either way."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    await session.refresh(row)
    return True


@asynccontextmanager
async def unit_of_work(session: AsyncSession) -> AsyncIterator[None]:
    """Commit when the block succeeds; roll back when it raises — unless the error says that what was
    written before it is a fact to keep (``DomainError.keeps_transaction``, e.g. an audited refusal)."""
    work = await session.begin()
    try:
        yield
    except DomainError as error:
        await (work.commit() if error.keeps_transaction else work.rollback())
        raise
    except BaseException:
        await work.rollback()
        raise
    else:
        await work.commit()


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    tenant: uuid.UUID | None = None,
    platform: bool = False,
    snapshot: bool = False,
) -> AsyncIterator[AsyncSession]:
    """One unit of work for jobs and commands: commit on success, roll back on any exception.
    ``tenant``: limited to one organization's rows; ``platform``: every organization's;
    ``snapshot``: every statement reads the same snapshot (see ``read_one_snapshot``)."""
    async with sessionmaker() as session, unit_of_work(session):
        if snapshot:
            await read_one_snapshot(session)
        if tenant is not None:
            await set_tenant(session, tenant)
        if platform:
            await set_platform_scope(session)
        yield session

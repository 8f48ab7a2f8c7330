"""Sessions for the application (requests, workers, jobs) inside the test's transaction.

Each session is a savepoint of the test's transaction. A request or job limits its transaction to one
organization (``set_tenant`` is transaction-local); that setting outlives the released savepoint, so
without help the test's own session would afterwards see only that organization. These sessions widen
the test's transaction back to every organization when the last one open closes — the scope the ``db``
fixture started with — so a test reads and builds rows across organizations after any request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from donatello.core.database import PLATFORM_SETTING

_OPEN = "test_sessions_open"


class _WideningSession(AsyncSession):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open = True
        self._connection().info[_OPEN] = self._connection().info.get(_OPEN, 0) + 1

    def _connection(self) -> AsyncConnection:
        assert isinstance(self.bind, AsyncConnection)
        return self.bind

    async def close(self) -> None:
        await super().close()
        if not self._open:
            return
        self._open = False
        connection = self._connection()
        connection.info[_OPEN] -= 1
        if connection.info[_OPEN] == 0 and connection.in_transaction():
            # Not while another of these sessions is still open: a request's nested transaction keeps
            # its own organization's scope until the request is over.
            await connection.execute(text("SELECT set_config(:name, 'on', true)"), {"name": PLATFORM_SETTING})


def sessions_in(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions that run as savepoints inside the test's transaction (rolled back afterwards)."""
    return async_sessionmaker(
        bind=connection,
        class_=_WideningSession,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
    )

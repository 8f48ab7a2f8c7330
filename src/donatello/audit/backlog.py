"""How far the outbox may grow while the audit store is away, and the refusal beyond it.

While Cosmos DB is unreachable or throttling, every audit event waits in the outbox and admission goes
on: the outbox is the audit log's durable queue. It is not bottomless — each row is about a kilobyte of
PostgreSQL storage and every row waiting is catch-up work — so beyond ``audit_outbox_max_backlog``
undelivered events new generations are refused (503 ``audit-backlog-full`` with Retry-After) until the
relay has shipped the backlog below the bound. Work already admitted goes on and records its events.

The check must cost admission nothing measurable: each process reads the backlog at most once per
``audit_outbox_check_seconds`` on a connection of its own (two index lookups while the relay keeps up;
see ``backlog_at_bound``), and every admission in between decides on that reading in memory. The bound is
therefore kept to within a second's admissions per process — a bound on storage, not a quota.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.audit.repository import backlog_at_bound
from donatello.core.database import transaction
from donatello.core.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class AuditBacklogFull(ServiceUnavailable):
    """The audit store has been away long enough that the outbox holds its bound of undelivered events:
    new generations wait until the relay has caught up. Nothing was written."""

    type = "audit-backlog-full"
    title = "The audit log is catching up"
    retry_after_seconds: ClassVar[int] = 30

    def __init__(self, undelivered: int, limit: int) -> None:
        super().__init__(
            f"{undelivered} audit events are waiting for the audit store (the bound is {limit}); "
            f"new generations are accepted again once it has caught up. Retry in "
            f"{self.retry_after_seconds} s.",
            undelivered=undelivered,
            limit=limit,
            retry_after_seconds=self.retry_after_seconds,
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


@dataclass
class BacklogGate:
    """One per process: the last backlog reading, refreshed by the first admission that finds it stale."""

    sessions: async_sessionmaker[AsyncSession]
    limit: int
    refresh_seconds: float = 1.0
    full: int | None = None  # the backlog when the last reading found it at the bound
    _read_at: float = field(default=float("-inf"), init=False)
    _refreshing: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def admit(self) -> None:
        """Raise ``AuditBacklogFull`` when the outbox holds the bound of undelivered events."""
        if self.limit <= 0:
            return  # no bound
        if time.monotonic() - self._read_at >= self.refresh_seconds and not self._refreshing.locked():
            await self._refresh()
        if self.full is not None:
            raise AuditBacklogFull(self.full, self.limit)

    async def _refresh(self) -> None:
        async with self._refreshing:
            try:
                async with transaction(self.sessions, platform=True) as session:
                    full = await backlog_at_bound(session, self.limit)
            except Exception as error:  # the database is away: the request meets that on its own session
                log.debug("audit backlog not read: %s", type(error).__name__)
                self._read_at = time.monotonic()  # tried again in a second, not by every request
                return
            if (full is None) != (self.full is None):
                log.warning(
                    "audit backlog %s its bound: new generations %s",
                    "is back under" if full is None else "reached",
                    "admitted again" if full is None else "refused",
                    extra={"undelivered": full, "limit": self.limit},
                )
            self.full, self._read_at = full, time.monotonic()

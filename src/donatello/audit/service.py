"""Recording audit events through the transactional outbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit import repository
from donatello.audit.events import AuditEvent


async def record(session: AsyncSession, event: AuditEvent) -> None:
    """Write ``event`` to the outbox inside the caller's transaction.

    The business change and its audit event commit together or not at all; the relay ships committed
    rows to Cosmos DB afterwards and computes the tamper-evident chain there, in outbox order, so requests
    never queue behind a per-organization chain head.
    """
    await repository.add_to_outbox(session, event)

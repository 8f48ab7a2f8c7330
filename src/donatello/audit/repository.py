from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit.events import AuditEvent
from donatello.models import AuditOutbox


async def add_to_outbox(session: AsyncSession, event: AuditEvent) -> None:
    # No flush of its own: the row goes out with the transaction's next flush or its commit, batched.
    session.add(
        AuditOutbox(
            event_id=event.id,
            organization_id=event.organization_id,
            user_id=event.user_id,
            event_type=event.event_type,
            payload=event.document(),
            created_at=event.timestamp,
        )
    )

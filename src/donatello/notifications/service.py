"""A person's own notifications: list them, mark them read, choose which reach them by e-mail."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.clock import utcnow
from donatello.core.errors import NotFound
from donatello.core.pagination import decode_time_cursor, page_of
from donatello.models import Notification
from donatello.notifications import kinds, repository
from donatello.notifications.fanout import wants_email
from donatello.notifications.schemas import EmailChoice, NotificationPage, NotificationRead
from donatello.tenancy import Principal
from donatello.users import service as users


async def inbox(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> NotificationPage:
    """The principal's notifications, newest first; only ever their own."""
    rows = await repository.listing(session, principal, decode_time_cursor(cursor), limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda n: (n.created_at.isoformat(), str(n.id)))
    return NotificationPage(
        items=[NotificationRead.model_validate(n) for n in kept],
        next_cursor=next_cursor,
        unread=await repository.unread_count(session, principal),
    )


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    return await repository.unread_count(session, principal)


async def mark_read(session: AsyncSession, principal: Principal, notification_id: uuid.UUID) -> Notification:
    """Mark one read (again is fine); another person's notification is not found."""
    notification = await repository.get(session, principal, notification_id)
    if notification is None:
        raise NotFound("notification", notification_id)
    if notification.read_at is None:
        notification.read_at = utcnow()
        await session.flush()
        await audit.record_event(
            session,
            "notification.read",
            resource=("notification", notification.id),
            organization_id=principal.organization_id,
            actor=principal,
            details={"kind": notification.kind},
        )
    return notification


async def mark_all_read(session: AsyncSession, principal: Principal) -> int:
    """Mark every unread one of the caller's read; the audit event says how many."""
    marked = await repository.mark_all_read(session, principal, utcnow())
    await audit.record_event(
        session,
        "notification.read_all",
        resource=("user", principal.user_id),
        organization_id=principal.organization_id,
        actor=principal,
        details={"marked": marked},
    )
    return marked


async def email_choices(session: AsyncSession, principal: Principal) -> list[EmailChoice]:
    chosen = await repository.email_choices(session, principal.user_id)
    return [
        EmailChoice(kind=kind, label=label, email=wants_email(chosen, kind))
        for kind, (label, _) in kinds.KINDS.items()
    ]


async def choose_email(session: AsyncSession, principal: Principal, wanted: set[str]) -> list[EmailChoice]:
    """Each kind by e-mail or not (kinds not named: off), kept as the ``notifications.email`` preference."""
    value = {kind: kind in wanted for kind in kinds.KINDS}
    await users.set_preference(session, principal, repository.EMAIL_PREFERENCE, value)
    return await email_choices(session, principal)

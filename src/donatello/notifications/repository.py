"""Queries of the notifications package: the inbox, the fan-out's cursor and the e-mail's retry state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import Department, Notification, NotificationFanoutState, User, UserPreference
from donatello.tenancy import Principal

EMAIL_PREFERENCE = "notifications.email"

# --- The inbox: only ever the principal's own rows ------------------------------------------------------


def _own(principal: Principal) -> Any:
    return select(Notification).where(
        Notification.organization_id == principal.organization_id,
        Notification.user_id == principal.user_id,
    )


async def listing(
    session: AsyncSession, principal: Principal, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Notification]:
    """Newest first, keyset on (created_at, id)."""
    stmt = _own(principal).order_by(Notification.created_at.desc(), Notification.id.desc())
    if after is not None:
        stmt = stmt.where(tuple_(Notification.created_at, Notification.id) < tuple_(*after))
    return list((await session.execute(stmt.limit(limit))).scalars())


async def get(session: AsyncSession, principal: Principal, notification_id: uuid.UUID) -> Notification | None:
    stmt = _own(principal).where(Notification.id == notification_id)
    found: Notification | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    stmt = select(func.count()).select_from(_own(principal).where(Notification.read_at.is_(None)).subquery())
    return int(await session.scalar(stmt) or 0)


async def mark_all_read(session: AsyncSession, principal: Principal, at: datetime) -> int:
    stmt = (
        update(Notification)
        .where(
            Notification.organization_id == principal.organization_id,
            Notification.user_id == principal.user_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=at)
        .returning(Notification.id)
    )
    return len((await session.execute(stmt)).all())


# --- The fan-out (the cursor is explained in ``notifications.fanout``) ----------------------------------

FANOUT_LOCK = 7212396  # advisory lock: one notification fan-out at a time across workers


async def try_lock_fanout(session: AsyncSession) -> bool:
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FANOUT_LOCK}))


async def fanout_state(session: AsyncSession) -> NotificationFanoutState:
    stmt = select(NotificationFanoutState).where(NotificationFanoutState.id == 1).with_for_update()
    state = (await session.execute(stmt)).scalar_one_or_none()
    if state is None:  # created by the migration; recreated if someone removed it
        state = NotificationFanoutState(id=1, settled_outbox_id=0, scanned_outbox_id=0)
        session.add(state)
        await session.flush()
    return state


@dataclass(frozen=True)
class Source:
    event_id: uuid.UUID
    organization_id: uuid.UUID
    payload: dict[str, Any]


async def sources(session: AsyncSession, low: int, high: int, types: list[str]) -> list[Source]:
    stmt = text(
        "SELECT event_id, organization_id, payload FROM audit_outbox "
        "WHERE id > :low AND id <= :high AND event_type = ANY(:types) AND organization_id IS NOT NULL "
        "ORDER BY id"
    )
    result = await session.execute(stmt, {"low": low, "high": high, "types": types})
    return [Source(*row) for row in result.all()]


async def department_name(session: AsyncSession, department_id: str | None) -> str | None:
    try:
        key = uuid.UUID(str(department_id))
    except ValueError:
        return None
    name: str | None = await session.scalar(select(Department.name).where(Department.id == key))
    return name


@dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID
    email_choices: dict[str, Any]


async def recipients(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    user_id: str | None = None,
    roles: list[str] | None = None,
    department_id: str | None = None,
) -> list[Recipient]:
    """Active people of the organization: one person, or those holding a role (in a department)."""
    stmt = (
        select(User.id, UserPreference.preference_value)
        .outerjoin(
            UserPreference,
            (UserPreference.user_id == User.id) & (UserPreference.preference_key == EMAIL_PREFERENCE),
        )
        .where(User.organization_id == organization_id, User.is_active, User.deleted_at.is_(None))
    )
    try:
        if user_id is not None:
            stmt = stmt.where(User.id == uuid.UUID(user_id))
        if department_id is not None:
            stmt = stmt.where(User.department_id == uuid.UUID(department_id))
    except ValueError:
        return []
    if roles is not None:
        stmt = stmt.where(User.role.in_(roles))
    rows = (await session.execute(stmt)).all()
    return [Recipient(row[0], row[1] if isinstance(row[1], dict) else {}) for row in rows]


async def insert_notifications(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert, skipping any that exist (the unique key makes re-reading the outbox idempotent)."""
    if not rows:
        return 0
    stmt = insert(Notification).values(rows).on_conflict_do_nothing().returning(Notification.id)
    return len((await session.execute(stmt)).all())


async def email_choices(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    stmt = select(UserPreference.preference_value).where(
        UserPreference.user_id == user_id, UserPreference.preference_key == EMAIL_PREFERENCE
    )
    value = await session.scalar(stmt)
    return value if isinstance(value, dict) else {}


# --- E-mail ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailClaim:
    id: uuid.UUID
    attempt: int
    address: str
    title: str
    body: str
    link: str | None


_CLAIM = text(
    """
    WITH due AS (
        SELECT n.id FROM notifications n
        WHERE n.email_status = 'pending' AND n.email_next_attempt_at <= :now
        ORDER BY n.email_next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE notifications n
    SET email_attempts = n.email_attempts + 1, email_next_attempt_at = :lease_until
    FROM due, users u
    WHERE n.id = due.id AND u.id = n.user_id
    RETURNING n.id, n.email_attempts, u.email, n.title, n.body, n.link
    """
)


async def claim_mail(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> list[MailClaim]:
    """Claim due e-mails; their due time moves to ``lease_until`` (a crashed sender's claim comes due
    again) and their attempt count goes up."""
    result = await session.execute(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit})
    return [MailClaim(*row) for row in result.all()]


async def record_mail(session: AsyncSession, claim: MailClaim, values: dict[str, Any]) -> bool:
    """Record an attempt's outcome, unless the claim was lost (its lease ran out and another took it)."""
    stmt = (
        update(Notification)
        .where(
            Notification.id == claim.id,
            Notification.email_attempts == claim.attempt,
            Notification.email_status == "pending",
        )
        .values(**values)
        .returning(Notification.id)
    )
    return (await session.execute(stmt)).first() is not None

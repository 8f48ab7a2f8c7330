from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import Webhook, WebhookDelivery, WebhookFanoutState
from donatello.tenancy import Principal, scope

# --- Registrations -------------------------------------------------------------------------------------


async def add(session: AsyncSession, webhook: Webhook) -> Webhook:
    session.add(webhook)
    await session.flush()
    await session.refresh(webhook)
    return webhook


async def get(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> Webhook | None:
    stmt = scope(select(Webhook), principal, Webhook).where(Webhook.id == webhook_id)
    webhook: Webhook | None = (await session.execute(stmt)).scalar_one_or_none()
    return webhook


async def listing(
    session: AsyncSession,
    principal: Principal,
    owner_id: uuid.UUID | None,
    after: list[Any] | None,
    limit: int,
) -> list[Webhook]:
    """Newest first, keyset on (created_at, id)."""
    stmt = scope(select(Webhook), principal, Webhook).order_by(Webhook.created_at.desc(), Webhook.id.desc())
    if owner_id is not None:
        stmt = stmt.where(Webhook.user_id == owner_id)
    if after is not None:
        stmt = stmt.where(
            tuple_(Webhook.created_at, Webhook.id)
            < tuple_(datetime.fromisoformat(after[0]), uuid.UUID(after[1]))
        )
    return list((await session.execute(stmt.limit(limit))).scalars())


async def delete(session: AsyncSession, webhook: Webhook) -> None:
    await session.delete(webhook)
    await session.flush()


async def refresh(session: AsyncSession, webhook: Webhook) -> None:
    await session.flush()
    await session.refresh(webhook)


async def deliveries(
    session: AsyncSession, webhook_id: uuid.UUID, status: str | None, after: list[Any] | None, limit: int
) -> list[WebhookDelivery]:
    """A webhook's deliveries, newest first, keyset on (created_at, id)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if after is not None:
        stmt = stmt.where(
            tuple_(WebhookDelivery.created_at, WebhookDelivery.id)
            < tuple_(datetime.fromisoformat(after[0]), uuid.UUID(after[1]))
        )
    stmt = stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def requeue(
    session: AsyncSession, webhook_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime
) -> WebhookDelivery | None:
    """Queue a finished delivery again with a fresh series of attempts; None unless it was finished
    (a pending one is already queued)."""
    stmt = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.status.in_(("delivered", "failed")),
        )
        .values(status="pending", attempts=0, next_attempt_at=now, delivered_at=None)
        .returning(WebhookDelivery)
    )
    found: WebhookDelivery | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def delivery(
    session: AsyncSession, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id
    )
    found: WebhookDelivery | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def add_delivery(session: AsyncSession, delivery: WebhookDelivery) -> WebhookDelivery:
    session.add(delivery)
    await session.flush()
    return delivery


# --- Fan-out -------------------------------------------------------------------------------------------

FANOUT_LOCK = 7212395  # advisory lock: one fan-out at a time across workers


async def try_lock_fanout(session: AsyncSession) -> bool:
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FANOUT_LOCK}))


async def fanout_state(session: AsyncSession) -> WebhookFanoutState:
    stmt = select(WebhookFanoutState).where(WebhookFanoutState.id == 1).with_for_update()
    state = (await session.execute(stmt)).scalar_one_or_none()
    if state is None:  # created by the migration; recreated if someone removed it
        state = WebhookFanoutState(id=1, settled_outbox_id=0, scanned_outbox_id=0)
        session.add(state)
        await session.flush()
    return state


@dataclass(frozen=True)
class Candidate:
    outbox_id: int
    event_id: uuid.UUID
    organization_id: uuid.UUID
    actor_id: uuid.UUID | None
    audit_event_type: str
    payload: dict[str, Any]
    webhook_id: uuid.UUID
    owner_id: uuid.UUID
    owner_role: str
    subscribed: list[str]


_CANDIDATES = text(
    """
    SELECT o.id, o.event_id, o.organization_id, o.user_id, o.event_type, o.payload,
           w.id, w.user_id, u.role, w.event_types
    FROM audit_outbox o
    JOIN webhooks w ON w.organization_id = o.organization_id AND w.is_active AND o.created_at >= w.created_at
    JOIN users u ON u.id = w.user_id AND u.is_active
    WHERE o.id > :low AND o.id <= :high AND o.event_type = ANY(:sources)
      AND NOT EXISTS (
        SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.event_id = o.event_id
      )
    ORDER BY o.id
    """
)


async def candidates(session: AsyncSession, low: int, high: int, sources: list[str]) -> list[Candidate]:
    """Outbox rows in (low, high] of a source type, paired with each active webhook of their organization
    that has no delivery of them yet."""
    result = await session.execute(_CANDIDATES, {"low": low, "high": high, "sources": sources})
    return [Candidate(*row) for row in result.all()]


async def insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert deliveries, skipping any that exist (the unique key makes the fan-out idempotent)."""
    if not rows:
        return 0
    stmt = insert(WebhookDelivery).values(rows).on_conflict_do_nothing().returning(WebhookDelivery.id)
    return len((await session.execute(stmt)).all())


# --- Delivery ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    id: uuid.UUID
    attempt: int  # this attempt's number (1 = first)
    webhook_id: uuid.UUID
    organization_id: uuid.UUID
    event_type: str
    body: str
    webhook_url: str
    sealed_secret: str
    retries: int


_CLAIM = text(
    """
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND w.is_active
        ORDER BY d.next_attempt_at
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1, next_attempt_at = :lease_until, last_attempt_at = :now
    FROM due, webhooks w
    WHERE d.id = due.id AND w.id = d.webhook_id
    RETURNING d.id, d.attempts, d.webhook_id, d.organization_id, d.event_type, d.body,
              w.webhook_url, w.secret_hash, w.retry_count
    """
)


async def claim_due(session: AsyncSession, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
    """Claim due deliveries of active webhooks; their due time moves to ``lease_until`` (so a claim whose
    worker dies comes due again) and their attempt count goes up."""
    result = await session.execute(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit})
    return [Claim(*row) for row in result.all()]


async def record_attempt(session: AsyncSession, claim: Claim, values: dict[str, Any]) -> bool:
    """Record an attempt's outcome, unless the claim was lost (the lease ran out and another took it)."""
    stmt = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claim.id,
            WebhookDelivery.attempts == claim.attempt,
            WebhookDelivery.status == "pending",
        )
        .values(**values)
        .returning(WebhookDelivery.id)
    )
    return (await session.execute(stmt)).first() is not None


async def count_failure(session: AsyncSession, webhook_id: uuid.UUID) -> tuple[int, bool] | None:
    """One more failed attempt in a row; the new run length and whether the webhook is still active."""
    stmt = (
        update(Webhook)
        .where(Webhook.id == webhook_id)
        .values(consecutive_failures=Webhook.consecutive_failures + 1)
        .returning(Webhook.consecutive_failures, Webhook.is_active)
    )
    row = (await session.execute(stmt)).first()
    return (int(row[0]), bool(row[1])) if row else None


async def count_success(session: AsyncSession, webhook_id: uuid.UUID) -> None:
    await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.consecutive_failures != 0)
        .values(consecutive_failures=0)
    )


async def disable(session: AsyncSession, webhook_id: uuid.UUID, reason: str) -> Webhook | None:
    """Deactivate the webhook and give up its pending deliveries."""
    stmt = (
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.is_active)
        .values(is_active=False)
        .returning(Webhook)
    )
    webhook = (await session.execute(stmt)).scalar_one_or_none()
    if webhook is not None:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending")
            .values(status="failed", last_error=reason)
        )
    return webhook

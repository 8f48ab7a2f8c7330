"""Changing a generation after admission: cancel and (soft) delete."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import reservations
from donatello.core import metrics
from donatello.core.clock import utcnow
from donatello.core.errors import Forbidden, NotFound
from donatello.generations import repository
from donatello.generations.errors import NotCancellable
from donatello.generations.queries import may_see
from donatello.models import Generation
from donatello.tenancy import Action, Permission, Principal, ensure

IN_FLIGHT = ("pending", "processing")


async def cancel(session: AsyncSession, principal: Principal, generation_id: uuid.UUID) -> Generation:
    """Stop a pending or running generation: it is never charged and its hold is released now. A worker
    still running it notices (its lease is gone) and discards its result."""
    ensure(principal, Action.ACT_ON_GENERATIONS)
    generation = await _own(session, principal, generation_id)
    if generation.status not in IN_FLIGHT:
        raise NotCancellable(generation.status)
    await _cancel(session, principal, generation, "cancelled by the user")
    return generation


async def delete(session: AsyncSession, principal: Principal, generation_id: uuid.UUID) -> None:
    """Soft-delete (the seed's is_deleted/deleted_at); an in-flight generation is cancelled first. The
    images stay until retention removes them."""
    ensure(principal, Action.ACT_ON_GENERATIONS)
    generation = await _own(session, principal, generation_id)
    if generation.status in IN_FLIGHT:
        await _cancel(session, principal, generation, "deleted by the user")
    generation.is_deleted, generation.deleted_at = True, utcnow()
    await session.flush()
    await audit.record(
        session, _event("generation.deleted", "generation_deleted", principal, generation, generation.status)
    )


async def _own(session: AsyncSession, principal: Principal, generation_id: uuid.UUID) -> Generation:
    """Lock the row: cancelling and a worker finishing must not both win."""
    generation = await repository.get(session, generation_id, lock=True)
    if generation is None or generation.is_deleted or not may_see(principal, generation):
        raise NotFound("generation", generation_id)
    if generation.user_id != principal.user_id and not principal.can(Permission.GENERATIONS_MANAGE_OTHERS):
        # they may see it (a department's manager), so it exists for them: not theirs to change
        raise Forbidden(
            "Only its owner or an org admin may cancel or delete this generation",
            required_permission=Permission.GENERATIONS_MANAGE_OTHERS.value,
        )
    return generation


async def _cancel(session: AsyncSession, principal: Principal, generation: Generation, reason: str) -> None:
    before = generation.status
    generation.status, generation.lease_owner, generation.lease_expires_at = "cancelled", None, None
    metrics.generation_finished("cancelled", generation.model_provider)
    generation.error_message = reason
    await session.flush()
    await reservations.release(session, generation.id, reason)
    await audit.record(
        session, _event("generation.cancelled", "generation_cancelled", principal, generation, before)
    )


def _event(
    event_type: str, action: str, principal: Principal, generation: Generation, status_before: str
) -> audit.AuditEvent:
    return audit.event(
        event_type,
        action=action,
        resource=("generation", generation.id),
        organization_id=generation.organization_id,
        actor=principal,
        details={"owner_id": generation.user_id, "status_before": status_before},
    )

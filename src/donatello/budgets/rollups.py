"""Daily spend rollups: the ledger summed per (organization, department, user, provider, model, local day).

``add`` runs in the transaction that writes a cost event (``budgets.settlement`` calls it), so a rollup
is never behind or ahead of the ledger. ``rebuild`` recomputes a range from ``cost_events`` and is
idempotent; it is the repair tool, not a step anything depends on.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import rollups_repository
from donatello.budgets.periods import organization_timezone
from donatello.models import CostEvent


def local_day(instant: datetime, timezone: str) -> date:
    return instant.astimezone(ZoneInfo(timezone)).date()


async def add(session: AsyncSession, event: CostEvent, timezone: str) -> None:
    """Add one cost event to its day's rollup (``timezone``: the organization's zone)."""
    amount = event.actual_cost_aud
    charge = event.kind == "charge"
    values = {
        "organization_id": event.organization_id,
        "department_id": event.department_id,
        "user_id": event.user_id,
        "provider": event.model_provider,
        "model": event.model_name,
        "day": local_day(event.created_at, timezone),
        "department_code": event.department_code,
        "department_name": event.department_name,
        "user_email": event.user_email,
        "charges_aud": amount if charge else Decimal(0),
        "refunds_aud": amount if event.kind == "refund" else Decimal(0),
        "corrections_aud": amount if event.kind == "correction" else Decimal(0),
        "estimated_aud": event.estimated_cost_aud,
        "images": event.image_count,
        "events": 1,
        "charge_count": 1 if charge else 0,
        "over_budget_count": 1 if charge and (event.details or {}).get("over_budget") else 0,
    }
    await rollups_repository.add_to_day(session, values)


async def rebuild(
    session: AsyncSession, organization_id: uuid.UUID, timezone: str, first_day: date, last_day: date
) -> int:
    """Recompute the organization's rollups for local days ``first_day``..``last_day`` from the ledger;
    running it twice gives the same rows. Returns the number of rollup rows written.

    The range's rows are deleted and re-inserted in one transaction. A cost event written concurrently
    either is in the re-insert's snapshot or adds itself afterwards (its upsert waits for the deleted
    rows' locks), so the conflict clause adds rather than replaces."""
    zone = ZoneInfo(timezone)
    starts = datetime.combine(first_day, time.min, zone)
    ends = datetime.combine(last_day + timedelta(days=1), time.min, zone)
    return await rollups_repository.rebuild_days(
        session, organization_id, timezone, (first_day, last_day), (starts, ends)
    )


async def rebuild_range(
    session: AsyncSession, organization_id: uuid.UUID | None, first_day: date, last_day: date
) -> dict[uuid.UUID, int]:
    """``rebuild`` for one organization (or every one, on a platform-scoped session), each in its own
    time zone. Returns rollup rows written per organization."""
    written: dict[uuid.UUID, int] = {}
    for org_id, settings in await rollups_repository.organizations(session, organization_id):
        timezone = organization_timezone(settings)
        written[org_id] = await rebuild(session, org_id, timezone, first_day, last_day)
    return written

"""Daily spend rollups: the ledger summed per (organization, department, user, provider, model, local day).

``add`` runs in the transaction that writes a cost event (``budgets.settlement`` calls it), so a rollup
is never behind or ahead of the ledger. ``rebuild`` recomputes a range from ``cost_events`` and is
idempotent; it is the repair tool, not a step anything depends on.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets.periods import organization_timezone
from donatello.models import CostDailyRollup, CostEvent, Organization

_ADDITIVE = (
    "charges_aud",
    "refunds_aud",
    "corrections_aud",
    "estimated_aud",
    "images",
    "events",
    "charge_count",
    "over_budget_count",
)


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
    table = cast(Table, CostDailyRollup.__table__)
    stmt = insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        constraint="uq_cost_daily_rollups_key",
        set_={
            **{column: table.c[column] + stmt.excluded[column] for column in _ADDITIVE},
            "department_code": stmt.excluded.department_code,
            "department_name": stmt.excluded.department_name,
            "user_email": stmt.excluded.user_email,
        },
    )
    await session.execute(stmt)


_REBUILD = text(
    """
    INSERT INTO cost_daily_rollups AS r (organization_id, department_id, user_id, provider, model, day,
        department_code, department_name, user_email, charges_aud, refunds_aud, corrections_aud,
        estimated_aud, images, events, charge_count, over_budget_count)
    SELECT e.organization_id, e.department_id, e.user_id, e.model_provider, e.model_name,
        (e.created_at AT TIME ZONE :tz)::date,
        (array_agg(e.department_code ORDER BY e.created_at DESC))[1],
        (array_agg(e.department_name ORDER BY e.created_at DESC))[1],
        (array_agg(e.user_email ORDER BY e.created_at DESC))[1],
        COALESCE(sum(e.actual_cost_aud) FILTER (WHERE e.kind = 'charge'), 0),
        COALESCE(sum(e.actual_cost_aud) FILTER (WHERE e.kind = 'refund'), 0),
        COALESCE(sum(e.actual_cost_aud) FILTER (WHERE e.kind = 'correction'), 0),
        sum(e.estimated_cost_aud), sum(e.image_count), count(*),
        count(*) FILTER (WHERE e.kind = 'charge'),
        count(*) FILTER (WHERE e.kind = 'charge' AND e.metadata->>'over_budget' = 'true')
    FROM cost_events e
    WHERE e.organization_id = :org AND e.created_at >= :starts AND e.created_at < :ends
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT uq_cost_daily_rollups_key DO UPDATE SET
        charges_aud = r.charges_aud + excluded.charges_aud,
        refunds_aud = r.refunds_aud + excluded.refunds_aud,
        corrections_aud = r.corrections_aud + excluded.corrections_aud,
        estimated_aud = r.estimated_aud + excluded.estimated_aud,
        images = r.images + excluded.images,
        events = r.events + excluded.events,
        charge_count = r.charge_count + excluded.charge_count,
        over_budget_count = r.over_budget_count + excluded.over_budget_count
    """
)


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
    await session.execute(
        text("DELETE FROM cost_daily_rollups WHERE organization_id = :org AND day BETWEEN :first AND :last"),
        {"org": organization_id, "first": first_day, "last": last_day},
    )
    result = await session.execute(
        _REBUILD, {"org": organization_id, "tz": timezone, "starts": starts, "ends": ends}
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def rebuild_range(
    session: AsyncSession, organization_id: uuid.UUID | None, first_day: date, last_day: date
) -> dict[uuid.UUID, int]:
    """``rebuild`` for one organization (or every one, on a platform-scoped session), each in its own
    time zone. Returns rollup rows written per organization."""
    stmt = select(Organization.id, Organization.settings).order_by(Organization.id)
    if organization_id is not None:
        stmt = stmt.where(Organization.id == organization_id)
    written: dict[uuid.UUID, int] = {}
    for org_id, settings in (await session.execute(stmt)).all():
        timezone = organization_timezone(settings)
        written[org_id] = await rebuild(session, org_id, timezone, first_day, last_day)
    return written

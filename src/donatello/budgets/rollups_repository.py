"""The daily spend rollups' SQL: one event's upsert, a range rebuilt from the ledger, the organizations to
rebuild (``budgets.rollups`` holds the rules: which day, which figures)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import CostDailyRollup, Organization

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


async def add_to_day(session: AsyncSession, values: dict[str, Any]) -> None:
    """Add one event's figures to its day's rollup row (created on the first event of the day)."""
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


async def rebuild_days(
    session: AsyncSession,
    organization_id: uuid.UUID,
    timezone: str,
    days: tuple[date, date],
    instants: tuple[datetime, datetime],
) -> int:
    """Delete the organization's rollups for local ``days`` (inclusive) and sum them again from the cost
    events at ``instants`` (end exclusive); the number of rollup rows written."""
    first_day, last_day = days
    await session.execute(
        text("DELETE FROM cost_daily_rollups WHERE organization_id = :org AND day BETWEEN :first AND :last"),
        {"org": organization_id, "first": first_day, "last": last_day},
    )
    result = await session.execute(
        _REBUILD, {"org": organization_id, "tz": timezone, "starts": instants[0], "ends": instants[1]}
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def organizations(
    session: AsyncSession, organization_id: uuid.UUID | None
) -> list[tuple[uuid.UUID, dict[str, Any] | None]]:
    """(id, settings) of one organization, or of every one the session sees."""
    stmt = select(Organization.id, Organization.settings).order_by(Organization.id)
    if organization_id is not None:
        stmt = stmt.where(Organization.id == organization_id)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]

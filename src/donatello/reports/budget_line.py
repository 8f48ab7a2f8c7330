"""The budget as it stood on each day of a period — the line the burn-down draws. A change steps the line
on the local day it was made and leaves the days before it as they were: the period's budget as known
now, walked back through the changes recorded since each day (the audit log's ``budget.changed`` events
and approved raises), so lowering the budget on the 15th never redraws the 1st to the 14th."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit import service as audit
from donatello.budgets import account
from donatello.budgets.periods import Period
from donatello.models import Department
from donatello.reports import repository

#: The events that set a budget's monthly amount (``budget.mode_changed`` may carry an amount too).
AMOUNT_EVENTS = ("budget.created", "budget.changed", "budget.mode_changed")


async def budget_by_day(
    session: AsyncSession,
    department: Department,
    period: Period,
    known: account.PeriodBudget | None,
    last_day: date,
) -> list[Decimal | None]:
    """The budget on each day from the period's first to ``last_day``; None before the budget existed."""
    days = [period.start + timedelta(days=n) for n in range((last_day - period.start).days + 1)]
    row = await account.stored_budget(session, department.id)
    if known is None or row is None:
        return [None for _ in days]
    zone = ZoneInfo(period.timezone)
    increments: list[tuple[date, Decimal]] = []
    created: date | None = None
    # Events before the budget had one id of its own named the department as the resource: read both.
    events = await audit.history(
        session, department.organization_id, AMOUNT_EVENTS, [row.id, department.id], period.starts_at,
        period.ends_at,
    )  # fmt: skip
    for at, document in events:
        amount = (document.get("metadata") or {}).get("changes", {}).get("monthly_budget_aud")
        if document["event_type"] == "budget.created":
            created = at.astimezone(zone).date()
        elif isinstance(amount, dict):
            increments.append((at.astimezone(zone).date(), Decimal(amount["to"]) - Decimal(amount["from"])))
    increments += await repository.budget_raises_by_day(
        session, department.id, period.starts_at, period.ends_at, period.timezone
    )
    return [
        None
        if created is not None and day < created
        else known.total - sum((amount for changed, amount in increments if changed > day), Decimal(0))
        for day in days
    ]

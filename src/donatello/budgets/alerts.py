"""Threshold alerts: each configured percentage of the period budget fires once per period.

The alert row is the record the webhooks issue delivers; its audit event is the log entry. The unique
(department, period, threshold) makes concurrent crossings fire once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import repository
from donatello.models import DepartmentBudget

DEFAULT_THRESHOLDS = (50, 80, 100)


def crossed(budget: DepartmentBudget) -> list[int]:
    """Thresholds the current spend has reached (a zero budget is reached by any spend)."""
    spent, limit = budget.current_spend_aud, budget.period_budget_aud
    if spent <= 0:
        return []
    return [int(t) for t in budget.alert_thresholds if spent * 100 >= limit * Decimal(int(t))]


async def raise_crossed(session: AsyncSession, budget: DepartmentBudget, *, at: datetime) -> None:
    for threshold in crossed(budget):
        await raise_alert(session, budget, threshold, at=at)


async def reconcile(session: AsyncSession, budget: DepartmentBudget, *, at: datetime) -> None:
    """After the budget or its thresholds change, the period's alerts match the spend again: an alert
    whose threshold is no longer reached (or no longer configured) is re-armed — it fires again if spend
    reaches it later this period — and a configured threshold reached now fires now (once)."""
    await repository.rearm_alerts(
        session, budget.department_id, budget.budget_period_start, keep=set(crossed(budget))
    )
    await raise_crossed(session, budget, at=at)


async def raise_alert(
    session: AsyncSession, budget: DepartmentBudget, threshold: int, *, at: datetime
) -> None:
    alert = await repository.record_alert(session, budget, threshold, at)
    if alert is None:
        return  # already fired this period
    await audit.record_event(
        session,
        "budget.threshold_crossed",
        action="threshold_crossed",
        resource=("department_budget", budget.id),
        organization_id=budget.organization_id,
        details={
            "department_id": budget.department_id,
            "threshold_percent": threshold,
            "period_start": budget.budget_period_start,
            "spent_aud": budget.current_spend_aud,
            "budget_aud": budget.period_budget_aud,
        },
    )

"""The ledger's invariants as code (tests, `donatello budgets check`).

For a department's current period: Σ cost events written in the period = recorded spend; reserved =
Σ of held reservations ≥ 0. For each closed period: Σ cost events in it = its recorded spend.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.budgets import repository
from donatello.budgets.periods import month_starting, organization_timezone
from donatello.core.database import transaction


@dataclass
class Report:
    department_id: uuid.UUID
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def check(session: AsyncSession, department_id: uuid.UUID) -> Report:
    report = Report(department_id)
    budget = await repository.budget(session, department_id, lock=False)
    found = await repository.department_with_org_settings(session, department_id)
    if budget is None or found is None:
        return report
    timezone = organization_timezone(found[1])
    current = month_starting(budget.budget_period_start, timezone)
    ledger = await repository.ledger_total(session, department_id, current)
    if ledger != budget.current_spend_aud:
        report.problems.append(
            f"period {current.start}: cost events sum {ledger} but spend is {budget.current_spend_aud}"
        )
    held = await repository.held_total(session, department_id)
    if held != budget.reserved_aud:
        report.problems.append(f"reserved is {budget.reserved_aud} but held reservations sum {held}")
    if budget.reserved_aud < 0:
        report.problems.append(f"reserved is negative: {budget.reserved_aud}")
    for period_row in await repository.closed_periods(session, department_id, before=None, limit=10_000):
        period = month_starting(period_row.period_start, timezone)
        total = await repository.ledger_total(session, department_id, period)
        if total != period_row.spent_aud:
            report.problems.append(
                f"closed period {period.start}: cost events sum {total} but spend was {period_row.spent_aud}"
            )
    return report


async def check_all(session: AsyncSession) -> list[Report]:
    ids = await repository.budgeted_departments(session)
    return [await check(session, department_id) for department_id in ids]


async def check_live(sessions: async_sessionmaker[AsyncSession]) -> list[Report]:
    """Every department, read in one snapshot: on a live system a settlement committing between the
    budget row, the cost-event sum and the holds would otherwise look like a break (a false alarm)."""
    async with transaction(sessions, platform=True, snapshot=True) as session:
        return await check_all(session)

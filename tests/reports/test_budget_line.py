"""The burn-down's budget line steps on the day a budget changed and never redraws the days before it;
its CSV holds the series the chart draws; one budget keeps one resource id in the audit log."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import increase_requests
from donatello.budgets import service as administration
from donatello.budgets.schemas import BudgetChange, IncreaseDecision, IncreaseRequestCreate
from donatello.models import AuditOutbox, User
from donatello.reports import service as reports
from donatello.reports import tables
from tests.support import factories
from tests.support.ledger import admit, principal_of, settle

NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def _sydney_noon(day: int) -> datetime:
    return datetime(2026, 11, day, 1, 0, tzinfo=UTC)  # 12:00 in Sydney (AEDT)


async def _department(db: AsyncSession, budget: str) -> tuple[User, User, User]:
    """(manager, member, org admin) of a department with a hard November budget of ``budget``."""
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    await factories.budget(db, dept, monthly_aud=budget, period=NOVEMBER)
    manager = await factories.user(db, org, role="dept_manager", department=dept)
    member = await factories.user(db, org, role="standard_user", department=dept)
    admin = await factories.user(db, org, role="org_admin")
    return manager, member, admin


async def _lower(db: AsyncSession, admin: User, department_id: uuid.UUID, amount: str, day: int) -> None:
    change = BudgetChange.model_validate({"monthly_budget_aud": amount})
    await administration.change_budget(db, principal_of(admin), department_id, change, at=_sydney_noon(day))


async def test_a_budget_lowered_mid_month_leaves_the_earlier_days_line_as_it_was(db: AsyncSession) -> None:
    manager, member, admin = await _department(db, "300.00")
    department_id = manager.department_id
    assert department_id is not None
    held = await admit(db, member, "40.0000", at=_sydney_noon(3))
    await settle(db, held, "40.0000", at=_sydney_noon(3))
    await _lower(db, admin, department_id, "200.00", 15)
    asked = await increase_requests.ask(
        db,
        principal_of(manager),
        department_id,
        IncreaseRequestCreate.model_validate(
            {"amount_aud": "50.00", "reason": "launch", "scope": "this_period"}
        ),
        at=_sydney_noon(17),
    )
    approve = IncreaseDecision.model_validate({"decision": "approved", "amount_aud": None, "reason": "ok"})
    await increase_requests.decide(db, principal_of(admin), asked.id, approve, at=_sydney_noon(17))

    burn = await reports.burn_down(db, principal_of(admin), department_id, None, at=_sydney_noon(20))

    line = {d.day.day: d.budget_aud for d in burn.days}
    assert {line[day] for day in range(1, 15)} == {Decimal("300.00")}  # before the change: as it was
    assert (line[14], line[15], line[16]) == (Decimal("300.00"), Decimal("200.00"), Decimal("200.00"))
    assert (line[17], line[20]) == (Decimal("250.00"), Decimal("250.00"))  # the top-up on its day
    assert burn.budget_aud == Decimal("250.00")

    rows = list(csv.DictReader(io.StringIO(tables.to_csv(burn))))
    assert list(rows[0]) == [
        "day",
        "spent_aud",
        "cumulative_aud",
        "budget_aud",
        "forecast_straight_line_aud",
        "forecast_trailing_7_day_aud",
    ]
    assert len(rows) == 30  # every day of the period: what the chart draws, to the period's end
    assert [Decimal(r["budget_aud"]) for r in rows[:20]] == [line[day] for day in range(1, 21)]
    assert {r["budget_aud"] for r in rows[20:]} == {"250.00"}  # carried flat, as drawn
    assert rows[19]["forecast_straight_line_aud"] == rows[19]["cumulative_aud"] == "40.0000"
    assert Decimal(rows[-1]["forecast_straight_line_aud"]) == burn.forecast_straight_line_aud
    assert Decimal(rows[-1]["forecast_trailing_7_day_aud"]) == burn.forecast_trailing_7_day_aud
    assert rows[18]["forecast_straight_line_aud"] == "" and rows[20]["spent_aud"] == ""


async def test_a_change_recorded_before_budgets_had_their_own_id_still_steps_the_line(
    db: AsyncSession,
) -> None:
    """Older ``budget.changed`` events named the department as the resource: they are read too."""
    manager, _, admin = await _department(db, "120.00")
    department_id = manager.department_id
    assert department_id is not None
    await audit.record_event(
        db,
        "budget.changed",
        resource=("department_budget", department_id),
        organization_id=manager.organization_id,
        actor=principal_of(admin),
        details={"changes": {"monthly_budget_aud": {"from": "100.00", "to": "120.00"}}},
        at=_sydney_noon(8),
    )

    burn = await reports.burn_down(db, principal_of(admin), department_id, None, at=_sydney_noon(10))

    assert [d.budget_aud for d in burn.days] == [Decimal("100.00")] * 7 + [Decimal("120.00")] * 3


async def test_one_budget_has_one_resource_id_in_the_audit_log(db: AsyncSession) -> None:
    manager, member, admin = await _department(db, "300.00")
    department_id = manager.department_id
    assert department_id is not None
    held = await admit(db, member, "180.0000", at=_sydney_noon(3))
    await settle(db, held, "180.0000", at=_sydney_noon(3))
    await _lower(db, admin, department_id, "200.00", 5)  # 90 % used: the 50 and 80 % alerts fire

    rows = (
        await db.execute(
            select(AuditOutbox.event_type, AuditOutbox.payload).where(
                AuditOutbox.organization_id == manager.organization_id,
                AuditOutbox.event_type.in_(["budget.changed", "budget.threshold_crossed"]),
            )
        )
    ).all()
    kinds = {kind for kind, _ in rows}
    assert kinds == {"budget.changed", "budget.threshold_crossed"}
    resources = {(p["resource_type"], p["resource_id"]) for _, p in rows}
    assert len(resources) == 1  # the same budget, the same id, whichever event
    (changed,) = [p for kind, p in rows if kind == "budget.changed"]
    assert changed["metadata"]["department_id"] == str(department_id)  # its dashboard is one link away
    assert changed["timestamp"].startswith("2026-11-05")

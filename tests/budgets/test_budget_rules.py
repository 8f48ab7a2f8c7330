"""The budget rules, one story each, at explicit instants (Australia/Sydney unless said otherwise)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import account, invariants, reservations, settlement
from donatello.budgets import service as administration
from donatello.budgets.errors import BudgetExceeded, InvalidAdjustment, UserCapExceeded
from donatello.budgets.schemas import BudgetChange, BudgetStatus
from donatello.models import AuditOutbox, DepartmentBudget, DepartmentBudgetPeriod, User
from donatello.tenancy import Principal
from tests.support import factories
from tests.support.ledger import admit, principal_of, settle

NOV_10 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 12:00 in Sydney (AEDT, UTC+11)
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


async def _member(db: AsyncSession, *, budget: str, mode: str = "hard", cap: str | None = None) -> User:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    row = await factories.budget(db, dept, monthly_aud=budget, mode=mode, period=NOVEMBER)
    if cap is not None:
        row.per_user_monthly_cap_aud = Decimal(cap)
    return await factories.user(db, org, department=dept)


def _department_of(member: User) -> uuid.UUID:
    assert member.department_id is not None, "every member in these stories belongs to a department"
    return member.department_id


async def _status(db: AsyncSession, member: User, at: datetime) -> BudgetStatus:
    admin = await factories.colleague(db, member, role="org_admin", same_department=False)
    return await administration.status(db, principal_of(admin), _department_of(member), at=at)


async def _admin(db: AsyncSession, member: User) -> Principal:
    return principal_of(await factories.colleague(db, member, role="org_admin", same_department=False))


async def _events(db: AsyncSession, member: User, event_type: str) -> list[AuditOutbox]:
    stmt = (
        select(AuditOutbox)
        .where(AuditOutbox.organization_id == member.organization_id, AuditOutbox.event_type == event_type)
        .order_by(AuditOutbox.id)
    )
    return list((await db.execute(stmt)).scalars())


async def test_hard_mode_refuses_what_does_not_fit_and_names_the_figures(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00")
    await admit(db, member, "0.60", at=NOV_10)

    with pytest.raises(BudgetExceeded) as refusal:
        await admit(db, member, "0.50", at=NOV_10)

    problem = refusal.value.problem()
    assert problem["status"] == 402
    assert (problem["budget_aud"], problem["reserved_aud"], problem["quote_aud"]) == (
        "1.00",
        "0.6000",
        "0.50",
    )
    assert problem["available_aud"] == "0.4000"
    assert refusal.value.keeps_transaction  # the refusal's audit event commits
    [event] = await _events(db, member, "budget.request_refused")
    assert event.payload["status"] == "failure"


async def test_soft_mode_admits_past_the_budget_flags_it_and_logs_it(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00", mode="soft")
    fits = await admit(db, member, "0.80", at=NOV_10)
    over = await admit(db, member, "0.80", at=NOV_10)

    assert (fits.flagged, over.flagged) == (False, True)
    assert over.holds[0].is_over_budget
    assert len(await _events(db, member, "budget.soft_limit_passed")) == 1
    assert await _events(db, member, "budget.threshold_crossed") == []  # soft logs; it does not alert


async def test_warn_mode_admits_and_raises_the_exceeded_alert_once(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00", mode="warn")
    for _ in range(3):
        await admit(db, member, "0.80", at=NOV_10)

    passed = await _events(db, member, "budget.warn_limit_passed")
    alerts = await _events(db, member, "budget.threshold_crossed")
    assert len(passed) == 2
    assert [a.payload["metadata"]["threshold_percent"] for a in alerts] == [100]


async def test_a_lapsed_hold_stops_counting_even_if_no_job_runs(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00")
    await admit(db, member, "0.90", at=NOV_10)
    with pytest.raises(BudgetExceeded):
        await admit(db, member, "0.50", at=NOV_10 + timedelta(minutes=5))

    later = NOV_10 + timedelta(minutes=16)  # holds last 15 minutes
    status = await _status(db, member, later)
    assert (status.reserved_aud, status.available_aud) == (Decimal(0), Decimal("1.00"))
    await admit(db, member, "0.50", at=later)  # the writer sweeps the lapsed hold first
    assert len(await _events(db, member, "budget.reservation_expired")) == 1
    assert (await invariants.check(db, _department_of(member))).problems == []


async def test_settlement_is_exactly_once_and_releases_the_hold(db: AsyncSession) -> None:
    member = await _member(db, budget="5.00")
    admission = await admit(db, member, "0.08", at=NOV_10)

    first = await settle(db, admission, "0.08", at=NOV_10 + timedelta(seconds=20))
    second = await settle(db, admission, "0.08", at=NOV_10 + timedelta(seconds=40))

    assert first.id == second.id
    assert (first.estimated_cost_aud, first.actual_cost_aud, first.kind) == (
        Decimal("0.08"),
        Decimal("0.08"),
        "charge",
    )
    status = await _status(db, member, NOV_10 + timedelta(minutes=1))
    assert (status.spent_aud, status.reserved_aud) == (Decimal("0.08"), Decimal(0))


async def test_a_generation_that_outlived_its_hold_is_still_charged_once(db: AsyncSession) -> None:
    member = await _member(db, budget="5.00")
    admission = await admit(db, member, "0.08", at=NOV_10)
    late = NOV_10 + timedelta(minutes=30)
    await account.open_for_update(db, _department_of(member), late)  # any writer sweeps the lapsed hold

    await settle(db, admission, "0.08", at=late)

    status = await _status(db, member, late)
    assert (status.spent_aud, status.reserved_aud) == (Decimal("0.08"), Decimal(0))
    assert (await invariants.check(db, _department_of(member))).problems == []


async def test_release_gives_the_money_back_once_and_charges_nothing(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00")
    admission = await admit(db, member, "0.70", at=NOV_10)
    generation_id = admission.generation.id

    assert await reservations.release(db, generation_id, "cancelled", at=NOV_10) is True
    assert await reservations.release(db, generation_id, "cancelled", at=NOV_10) is False
    status = await _status(db, member, NOV_10)
    assert (status.spent_aud, status.reserved_aud, status.available_aud) == (
        Decimal(0),
        Decimal(0),
        Decimal("1.00"),
    )


async def test_refunds_and_corrections_are_new_events_that_cannot_exceed_the_charge(db: AsyncSession) -> None:
    member = await _member(db, budget="5.00")
    admin = await _admin(db, member)
    charge = await settle(db, await admit(db, member, "0.16", at=NOV_10), "0.16", at=NOV_10)

    refund = await settlement.amend(
        db, admin, charge.id, Decimal("0.10"), "refund", "blurry image", at=NOV_10
    )
    correction = await settlement.amend(
        db, admin, charge.id, Decimal("-0.02"), "correction", "price fix", at=NOV_10
    )
    with pytest.raises(InvalidAdjustment):
        await settlement.amend(db, admin, charge.id, Decimal("0.05"), "refund", "too much", at=NOV_10)

    assert (refund.kind, refund.actual_cost_aud, refund.corrects_event_id) == (
        "refund",
        Decimal("-0.10"),
        charge.id,
    )
    assert correction.actual_cost_aud == Decimal("-0.02")
    status = await _status(db, member, NOV_10)
    assert status.spent_aud == Decimal("0.04")
    assert (await invariants.check(db, _department_of(member))).problems == []


async def test_a_per_user_cap_is_enforced_like_the_budget(db: AsyncSession) -> None:
    member = await _member(db, budget="100.00", cap="1.00")
    colleague = await factories.colleague(db, member)
    await settle(db, await admit(db, member, "0.70", at=NOV_10), "0.70", at=NOV_10)

    with pytest.raises(UserCapExceeded) as refusal:
        await admit(db, member, "0.40", at=NOV_10)
    await admit(db, colleague, "0.90", at=NOV_10)  # the cap is per user

    assert refusal.value.problem()["used_aud"] == "0.7000"


async def test_threshold_alerts_fire_once_per_period_each(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00")
    for amount in ("0.30", "0.25", "0.10", "0.30", "0.05"):  # 30%, 55%, 65%, 95%, 100%
        await settle(db, await admit(db, member, amount, at=NOV_10), amount, at=NOV_10)

    crossed = [
        e.payload["metadata"]["threshold_percent"]
        for e in await _events(db, member, "budget.threshold_crossed")
    ]
    assert crossed == [50, 80, 100]
    assert (await _status(db, member, NOV_10)).thresholds_crossed == [50, 80, 100]


async def test_a_new_month_starts_at_local_midnight_even_if_no_reset_job_ran(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00")
    last_minute_of_october_in_sydney = datetime(2026, 10, 31, 12, 59, tzinfo=UTC)  # 23:59 AEDT
    first_minute_of_november = datetime(2026, 10, 31, 13, 1, tzinfo=UTC)  # 00:01 AEDT, Nov 1
    row = await _budget_row(db, member)
    row.budget_period_start, row.budget_period_end = date(2026, 10, 1), date(2026, 10, 31)
    await settle(
        db,
        await admit(db, member, "0.90", at=last_minute_of_october_in_sydney),
        "0.90",
        at=last_minute_of_october_in_sydney,
    )

    november = await _status(db, member, first_minute_of_november)
    assert (november.period_start, november.spent_aud, november.available_aud) == (
        date(2026, 11, 1),
        Decimal(0),
        Decimal("1.00"),
    )
    await admit(db, member, "0.90", at=first_minute_of_november)  # would not fit in October

    [october] = (
        await db.execute(
            select(DepartmentBudgetPeriod).where(DepartmentBudgetPeriod.department_id == member.department_id)
        )
    ).scalars()
    assert (october.period_start, october.spent_aud) == (date(2026, 10, 1), Decimal("0.90"))
    assert (await invariants.check(db, _department_of(member))).problems == []


async def test_months_without_activity_still_close_and_stay_queryable(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00")
    await settle(db, await admit(db, member, "0.25", at=NOV_10), "0.25", at=NOV_10)
    february = datetime(2027, 2, 3, 1, 0, tzinfo=UTC)
    await admit(db, member, "0.10", at=february)

    admin = await _admin(db, member)
    page = await administration.closed_periods(db, admin, _department_of(member), None, 10)
    assert [(p.period_start, p.spent_aud) for p in page.items] == [
        (date(2027, 1, 1), Decimal(0)),
        (date(2026, 12, 1), Decimal(0)),
        (date(2026, 11, 1), Decimal("0.25")),
    ]


async def test_a_mid_period_budget_change_applies_from_then_on_and_is_audited(db: AsyncSession) -> None:
    member = await _member(db, budget="1.00")
    admin = await _admin(db, member)
    await settle(db, await admit(db, member, "0.90", at=NOV_10), "0.90", at=NOV_10)

    status = await administration.change_budget(
        db,
        admin,
        _department_of(member),
        BudgetChange(monthly_budget_aud=Decimal("2.00"), enforcement_mode="soft"),
        at=NOV_10,
    )

    assert (status.monthly_budget_aud, status.spent_aud, status.enforcement_mode) == (
        Decimal("2.00"),
        Decimal("0.90"),
        "soft",
    )
    [event] = await _events(db, member, "budget.mode_changed")
    assert event.payload["metadata"]["changes"]["monthly_budget_aud"] == {"from": "1.00", "to": "2.00"}


async def _budget_row(db: AsyncSession, member: User) -> DepartmentBudget:
    return (
        await db.execute(
            select(DepartmentBudget).where(DepartmentBudget.department_id == member.department_id)
        )
    ).scalar_one()


async def test_spend_lands_in_the_sydney_month_across_a_dst_change(db: AsyncSession) -> None:
    member = await _member(db, budget="10.00")
    row = await _budget_row(db, member)
    row.budget_period_start, row.budget_period_end = date(2026, 9, 1), date(2026, 9, 30)
    moments = {
        "sep 30 23:59 AEST": datetime(2026, 9, 30, 13, 59, tzinfo=UTC),
        "oct 1 00:01 AEST": datetime(2026, 9, 30, 14, 1, tzinfo=UTC),
        "oct 31 23:30 AEDT": datetime(2026, 10, 31, 12, 30, tzinfo=UTC),  # clocks went forward on Oct 4
        "nov 1 00:00 AEDT": datetime(2026, 10, 31, 13, 0, tzinfo=UTC),
    }
    for at in moments.values():
        await settle(db, await admit(db, member, "1.00", at=at), "1.00", at=at)

    closed = {
        p.period_start: p.spent_aud
        for p in (
            await db.execute(
                select(DepartmentBudgetPeriod).where(
                    DepartmentBudgetPeriod.department_id == member.department_id
                )
            )
        ).scalars()
    }
    assert closed == {date(2026, 9, 1): Decimal("1.00"), date(2026, 10, 1): Decimal("2.00")}
    november = await _status(db, member, moments["nov 1 00:00 AEDT"])
    assert (november.period_start, november.spent_aud) == (date(2026, 11, 1), Decimal("1.00"))
    assert (await invariants.check(db, _department_of(member))).problems == []

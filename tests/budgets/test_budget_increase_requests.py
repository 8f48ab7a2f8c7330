"""Asking for more budget and deciding, as stories at explicit instants (Australia/Sydney)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.budgets import increase_requests, invariants
from donatello.budgets import service as administration
from donatello.budgets.errors import (
    ApprovalAboveAsked,
    BudgetExceeded,
    IncreaseRequestDecided,
    IncreaseRequestOpen,
    RefusalNotYours,
    UserCapExceeded,
)
from donatello.budgets.schemas import IncreaseDecision, IncreaseRequestCreate
from donatello.budgets.tasks import expire_lapsed_requests
from donatello.core.database import create_engine, set_tenant, transaction
from donatello.core.errors import Forbidden, NotFound
from donatello.models import AuditOutbox, BudgetIncreaseRequest, DepartmentBudget, User
from donatello.reports import service as reports
from tests.support import factories
from tests.support.ledger import admit, committed_tenant, principal_of, settle

NOV_10 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 12:00 in Sydney
DEC_2 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def _ask(amount: str, scope: str = "this_period", refusal: object = None) -> IncreaseRequestCreate:
    return IncreaseRequestCreate.model_validate(
        {"amount_aud": amount, "reason": "launch campaign", "scope": scope, "refusal_id": refusal}
    )


def _approve(amount: str | None = None) -> IncreaseDecision:
    return IncreaseDecision.model_validate({"decision": "approved", "amount_aud": amount, "reason": "ok"})


async def _department(db: AsyncSession, budget: str, *, cap: str | None = None) -> tuple[User, User, User]:
    """(manager, member, org admin) of a department with a hard budget for November."""
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    row = await factories.budget(db, dept, monthly_aud=budget, period=NOVEMBER)
    if cap is not None:
        row.per_user_monthly_cap_aud = Decimal(cap)
    manager = await factories.user(db, org, role="dept_manager", department=dept)
    member = await factories.user(db, org, role="standard_user", department=dept)
    admin = await factories.user(db, org, role="org_admin")
    return manager, member, admin


async def _available(db: AsyncSession, admin: User, department_id: uuid.UUID, at: datetime) -> Decimal:
    status = await administration.status(db, principal_of(admin), department_id, at=at)
    return status.available_aud


async def test_a_managers_top_up_approved_in_part_raises_this_period_only(db: AsyncSession) -> None:
    manager, _, admin = await _department(db, "100.00")
    department_id = manager.department_id
    assert department_id is not None
    before = await _available(db, admin, department_id, NOV_10)

    asked = await increase_requests.ask(db, principal_of(manager), department_id, _ask("80.00"), at=NOV_10)
    decided = await increase_requests.decide(db, principal_of(admin), asked.id, _approve("40.00"), at=NOV_10)

    assert (decided.status, decided.approved_amount_aud) == ("approved", Decimal("40.00"))
    status = await administration.status(db, principal_of(admin), department_id, at=NOV_10)
    assert status.available_aud == before + Decimal("40.00")
    assert (status.monthly_budget_aud, status.period_top_up_aud) == (Decimal("100.00"), Decimal("40.00"))
    december = await administration.status(db, principal_of(admin), department_id, at=DEC_2)
    assert (december.period_budget_aud, december.period_top_up_aud) == (Decimal("100.00"), Decimal(0))
    events = (
        await db.execute(
            select(AuditOutbox.event_type).where(
                AuditOutbox.organization_id == manager.organization_id,
                AuditOutbox.event_type.like("budget.increase_%"),
            )
        )
    ).scalars()
    assert sorted(events) == ["budget.increase_decided", "budget.increase_requested"]


async def test_a_refused_member_asks_from_the_refusal_and_the_same_request_is_then_admitted(
    db: AsyncSession,
) -> None:
    _, member, admin = await _department(db, "1.00")
    await admit(db, member, "0.90", at=NOV_10)
    with pytest.raises(BudgetExceeded) as refused:
        await admit(db, member, "0.50", at=NOV_10)
    problem = refused.value.extensions
    assert problem["shortfall_aud"] == "0.40"
    assert problem["request_more_budget"] == f"/v1/departments/{member.department_id}/budget/requests"
    assert member.department_id is not None

    asked = await increase_requests.ask(
        db, principal_of(member), member.department_id, _ask("0.40", refusal=problem["refusal_id"]), at=NOV_10
    )
    assert asked.subject == "department"
    await increase_requests.decide(db, principal_of(admin), asked.id, _approve(), at=NOV_10)

    admitted = await admit(db, member, "0.50", at=NOV_10)
    assert admitted.total_aud == Decimal("0.50")


async def test_a_cap_refusal_asks_for_the_askers_own_cap(db: AsyncSession) -> None:
    _, member, admin = await _department(db, "100.00", cap="1.00")
    colleague = await factories.colleague(db, member, role="standard_user")
    await admit(db, member, "1.00", at=NOV_10)
    with pytest.raises(UserCapExceeded) as refused:
        await admit(db, member, "0.25", at=NOV_10)
    assert member.department_id is not None

    asked = await increase_requests.ask(
        db,
        principal_of(member),
        member.department_id,
        _ask("0.25", refusal=refused.value.extensions["refusal_id"]),
        at=NOV_10,
    )
    await increase_requests.decide(db, principal_of(admin), asked.id, _approve(), at=NOV_10)

    assert asked.subject == "user_cap"
    assert (await admit(db, member, "0.25", at=NOV_10)).total_aud == Decimal("0.25")
    with pytest.raises(UserCapExceeded):  # the raise was the asker's alone
        await admit(db, colleague, "1.25", at=NOV_10)


async def test_asking_needs_a_refusal_of_ones_own_unless_one_manages_the_department(
    db: AsyncSession,
) -> None:
    _, member, _ = await _department(db, "1.00")
    assert member.department_id is not None
    with pytest.raises(RefusalNotYours):
        await increase_requests.ask(db, principal_of(member), member.department_id, _ask("5.00"), at=NOV_10)

    colleague = await factories.colleague(db, member, role="standard_user")
    with pytest.raises(BudgetExceeded) as refused:
        await admit(db, colleague, "2.00", at=NOV_10)
    theirs = _ask("5.00", refusal=refused.value.extensions["refusal_id"])
    with pytest.raises(RefusalNotYours):
        await increase_requests.ask(db, principal_of(member), member.department_id, theirs, at=NOV_10)

    stranger_org = await factories.organization(db)
    stranger = await factories.user(db, stranger_org, role="org_admin")
    with pytest.raises(NotFound):
        await increase_requests.ask(db, principal_of(stranger), member.department_id, _ask("5.00"), at=NOV_10)


async def test_one_open_request_per_department_and_scope(db: AsyncSession) -> None:
    manager, _, admin = await _department(db, "100.00")
    assert manager.department_id is not None
    first = await increase_requests.ask(
        db, principal_of(manager), manager.department_id, _ask("10.00"), at=NOV_10
    )
    with pytest.raises(IncreaseRequestOpen) as second:
        await increase_requests.ask(
            db, principal_of(manager), manager.department_id, _ask("20.00"), at=NOV_10
        )
    assert second.value.extensions["open_request_id"] == str(first.id)

    permanent = _ask("50.00", scope="permanent")  # another scope is another request
    await increase_requests.ask(db, principal_of(admin), manager.department_id, permanent, at=NOV_10)


async def test_a_decline_changes_nothing_and_only_org_admins_decide(db: AsyncSession) -> None:
    manager, _, admin = await _department(db, "100.00")
    assert manager.department_id is not None
    finance = await factories.colleague(db, manager, role="finance", same_department=False)
    asked = await increase_requests.ask(
        db, principal_of(manager), manager.department_id, _ask("10.00"), at=NOV_10
    )
    before = await _available(db, admin, manager.department_id, NOV_10)

    with pytest.raises(Forbidden):
        await increase_requests.decide(db, principal_of(finance), asked.id, _approve(), at=NOV_10)
    with pytest.raises(Forbidden):
        await increase_requests.decide(db, principal_of(manager), asked.id, _approve(), at=NOV_10)
    with pytest.raises(ApprovalAboveAsked):
        await increase_requests.decide(db, principal_of(admin), asked.id, _approve("10.01"), at=NOV_10)
    declined = IncreaseDecision.model_validate({"decision": "declined", "reason": "not this month"})
    await increase_requests.decide(db, principal_of(admin), asked.id, declined, at=NOV_10)

    assert await _available(db, admin, manager.department_id, NOV_10) == before
    with pytest.raises(IncreaseRequestDecided):
        await increase_requests.decide(db, principal_of(admin), asked.id, _approve(), at=NOV_10)


async def test_another_tenants_request_is_not_found(db: AsyncSession) -> None:
    manager, _, _ = await _department(db, "100.00")
    assert manager.department_id is not None
    asked = await increase_requests.ask(
        db, principal_of(manager), manager.department_id, _ask("10.00"), at=NOV_10
    )
    other_org = await factories.organization(db)
    other_admin = await factories.user(db, other_org, role="org_admin")

    with pytest.raises(NotFound):
        await increase_requests.decide(db, principal_of(other_admin), asked.id, _approve(), at=NOV_10)
    page = await increase_requests.queue(db, principal_of(other_admin), None, None, 50)
    assert asked.id not in [item.id for item in page.items]


async def test_a_permanent_raise_changes_the_monthly_amount_from_now_on(db: AsyncSession) -> None:
    manager, _, admin = await _department(db, "100.00")
    assert manager.department_id is not None
    asked = await increase_requests.ask(
        db, principal_of(manager), manager.department_id, _ask("25.00", scope="permanent"), at=NOV_10
    )
    await increase_requests.decide(db, principal_of(admin), asked.id, _approve(), at=NOV_10)

    for at in (NOV_10, DEC_2):
        status = await administration.status(db, principal_of(admin), manager.department_id, at=at)
        assert (status.monthly_budget_aud, status.period_top_up_aud) == (Decimal("125.00"), Decimal(0))


async def test_a_request_lapses_with_its_period(db: AsyncSession, engine: AsyncEngine) -> None:
    manager, _, admin = await _department(db, "100.00")
    assert manager.department_id is not None
    asked = await increase_requests.ask(
        db, principal_of(manager), manager.department_id, _ask("10.00"), at=NOV_10
    )

    with pytest.raises(IncreaseRequestDecided) as late:
        await increase_requests.decide(db, principal_of(admin), asked.id, _approve(), at=DEC_2)
    assert late.value.extensions["status"] == "expired"


async def test_top_ups_keep_the_ledger_check_whole_across_a_period_boundary(db: AsyncSession) -> None:
    manager, member, admin = await _department(db, "1.00")
    assert manager.department_id is not None
    asked = await increase_requests.ask(
        db, principal_of(manager), manager.department_id, _ask("2.00"), at=NOV_10
    )
    await increase_requests.decide(db, principal_of(admin), asked.id, _approve(), at=NOV_10)
    held = await admit(db, member, "2.50", at=NOV_10)  # fits only with the top-up
    await settle(db, held, "2.50", at=NOV_10)
    await admit(db, member, "0.10", at=DEC_2)  # the first write of December closes November

    assert (await invariants.check(db, manager.department_id)).problems == []
    november = await administration.closed_periods(db, principal_of(admin), manager.department_id, None, 10)
    assert [(p.monthly_budget_aud, p.top_up_aud, p.spent_aud) for p in november.items] == [
        (Decimal("1.00"), Decimal("2.00"), Decimal("2.5000"))
    ]
    row = (
        await db.execute(
            select(DepartmentBudget).where(DepartmentBudget.department_id == manager.department_id)
        )
    ).scalar_one()
    assert (row.monthly_budget_aud, row.period_top_up_aud) == (Decimal("1.00"), Decimal(0))


async def test_two_admins_deciding_at_once_make_exactly_one_decision(
    engine: AsyncEngine, postgres_url: str
) -> None:
    async with committed_tenant(engine, postgres_url, budget="100.00") as tenant:
        pool = create_engine(postgres_url, app_role="donatello_app", pool_size=6, max_overflow=0)
        sessions = async_sessionmaker(pool, expire_on_commit=False)
        async with transaction(sessions) as session:
            await set_tenant(session, tenant.organization_id)
            manager = await factories.colleague(session, tenant.members[0], role="dept_manager")
            admins = [
                await factories.colleague(session, tenant.members[0], role="org_admin", same_department=False)
                for _ in range(4)
            ]
            asked = await increase_requests.ask(
                session, principal_of(manager), tenant.department.id, _ask("30.00")
            )

        async def decide_as(admin: User) -> str:
            try:
                async with transaction(sessions) as session:
                    await set_tenant(session, tenant.organization_id)
                    await increase_requests.decide(session, principal_of(admin), asked.id, _approve())
            except IncreaseRequestDecided:
                return "conflict"
            return "decided"

        outcomes = await asyncio.gather(*(decide_as(admin) for admin in admins))

        assert sorted(outcomes) == ["conflict", "conflict", "conflict", "decided"]
        async with transaction(sessions, platform=True) as session:
            row = (
                await session.execute(
                    select(DepartmentBudget).where(DepartmentBudget.department_id == tenant.department.id)
                )
            ).scalar_one()
            decided = await session.get(BudgetIncreaseRequest, asked.id)
        assert row.period_top_up_aud == Decimal("30.00")
        assert decided is not None and decided.status == "approved"
        await pool.dispose()


async def test_the_worker_records_each_lapsed_request_once(engine: AsyncEngine, postgres_url: str) -> None:
    async with committed_tenant(engine, postgres_url, budget="100.00") as tenant:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        a_month_ago = datetime.now(UTC) - timedelta(days=40)
        async with transaction(sessions) as session:
            await set_tenant(session, tenant.organization_id)
            manager = await factories.colleague(session, tenant.members[0], role="dept_manager")
            old = await increase_requests.ask(
                session, principal_of(manager), tenant.department.id, _ask("10.00"), at=a_month_ago
            )
            current = await increase_requests.ask(
                session, principal_of(manager), tenant.department.id, _ask("5.00", scope="permanent")
            )

        await expire_lapsed_requests(sessions)
        await expire_lapsed_requests(sessions)

        async with transaction(sessions, platform=True) as session:
            statuses = {
                row.id: row.status
                for row in (
                    await session.execute(
                        select(BudgetIncreaseRequest).where(
                            BudgetIncreaseRequest.id.in_([old.id, current.id])
                        )
                    )
                ).scalars()
            }
            recorded = (
                await session.execute(
                    select(AuditOutbox.event_type).where(
                        AuditOutbox.organization_id == tenant.organization_id,
                        AuditOutbox.event_type == "budget.increase_request_expired",
                    )
                )
            ).all()
        assert statuses == {old.id: "expired", current.id: "open"}
        assert len(recorded) == 1


async def test_reports_show_top_ups_as_steps_and_apart_from_the_base_budget(db: AsyncSession) -> None:
    manager, member, admin = await _department(db, "300.00")
    assert manager.department_id is not None
    nov_5 = NOV_10 - timedelta(days=5)
    held = await admit(db, member, "12.5000", at=nov_5)
    await settle(db, held, "12.5000", at=nov_5)
    asked = await increase_requests.ask(
        db, principal_of(manager), manager.department_id, _ask("90.00"), at=NOV_10
    )
    await increase_requests.decide(db, principal_of(admin), asked.id, _approve("60.00"), at=NOV_10)
    viewer = principal_of(admin)

    status = await reports.current_status(db, viewer, manager.department_id, at=NOV_10)
    burn_down = await reports.burn_down(db, viewer, manager.department_id, None, at=NOV_10)
    periods = await reports.comparison(db, viewer, manager.department_id, 2, at=NOV_10)

    assert (status.budget_aud, status.base_budget_aud, status.top_up_aud) == (
        Decimal("360.00"),
        Decimal("300.00"),
        Decimal("60.00"),
    )
    assert status.available_aud == Decimal("360.00") - Decimal("12.5000")
    steps = {day.day.day: day.budget_aud for day in burn_down.days}
    assert (steps[9], steps[10]) == (Decimal("300.00"), Decimal("360.00"))
    assert burn_down.budget_aud == Decimal("360.00")
    assert [(p.base_budget_aud, p.top_up_aud) for p in periods.periods] == [
        (Decimal("300.00"), Decimal("60.00")),
        (None, Decimal(0)),  # the budget began in November
    ]


async def test_the_period_views_agree_for_a_department_budgeted_this_month(db: AsyncSession) -> None:
    """A budget set this month has no earlier periods: reports invent none (both views say the same)."""
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    await factories.budget(db, dept, monthly_aud="5000.00")  # the current month
    admin = principal_of(await factories.user(db, org, role="org_admin"))

    periods = await reports.comparison(db, admin, dept.id, 6)
    closed = await administration.closed_periods(db, admin, dept.id, None, 10)

    assert [p.budget_aud for p in periods.periods] == [Decimal("5000.00"), None, None, None, None, None]
    assert closed.items == []

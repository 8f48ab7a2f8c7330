"""What people see of requests for more budget: their own with the answer, who asked by name, the
asker's use for the admin deciding, and what a capped person may still spend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import increase_requests
from donatello.budgets import service as budgets
from donatello.budgets.errors import UserCapExceeded
from donatello.budgets.schemas import IncreaseDecision, IncreaseRequestCreate, IncreaseRequestRead
from donatello.core.errors import Forbidden
from donatello.models import User
from tests.support import factories
from tests.support.ledger import admit, principal_of

NOV_10 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


async def _capped(db: AsyncSession, budget: str, cap: str) -> tuple[User, User, User]:
    """(manager, member, org admin) of a department with a hard budget and a per-person cap."""
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    row = await factories.budget(db, dept, monthly_aud=budget, period=NOVEMBER)
    row.per_user_monthly_cap_aud = Decimal(cap)
    manager = await factories.user(db, org, role="dept_manager", department=dept)
    member = await factories.user(db, org, role="standard_user", department=dept)
    admin = await factories.user(db, org, role="org_admin")
    return manager, member, admin


async def _cap_request(db: AsyncSession, member: User, amount: str) -> IncreaseRequestRead:
    with pytest.raises(UserCapExceeded) as refused:
        await admit(db, member, "0.40", at=NOV_10)
    assert member.department_id is not None
    body = IncreaseRequestCreate.model_validate(
        {"amount_aud": amount, "reason": "client pitch", "refusal_id": refused.value.extensions["refusal_id"]}
    )
    asked = await increase_requests.ask(db, principal_of(member), member.department_id, body, at=NOV_10)
    return IncreaseRequestRead.model_validate(asked)


async def test_a_person_sees_their_own_requests_with_the_answer_and_no_one_elses(db: AsyncSession) -> None:
    manager, member, admin = await _capped(db, "100.00", "0.05")
    await admit(db, member, "0.04", at=NOV_10)
    asked = await _cap_request(db, member, "0.50")
    assert manager.department_id is not None
    managers_own = IncreaseRequestCreate.model_validate({"amount_aud": "20.00", "reason": "launch"})
    await increase_requests.ask(db, principal_of(manager), manager.department_id, managers_own, at=NOV_10)
    decision = IncreaseDecision.model_validate(
        {"decision": "approved", "amount_aud": "0.30", "reason": "Half now; ask again mid-month"}
    )
    await increase_requests.decide(db, principal_of(admin), asked.id, decision, at=NOV_10)

    mine = (await increase_requests.mine(db, principal_of(member), None, 10)).items
    assert [(item.id, item.subject, item.status) for item in mine] == [(asked.id, "user_cap", "approved")]
    assert (mine[0].amount_aud, mine[0].approved_amount_aud) == (Decimal("0.50"), Decimal("0.30"))
    assert mine[0].decision_reason == "Half now; ask again mid-month"
    assert [
        item.subject for item in (await increase_requests.mine(db, principal_of(manager), None, 10)).items
    ] == ["department"]
    names = await increase_requests.people(db, principal_of(manager), {member.id, admin.id})
    assert names == {
        member.id: member.display_name or member.email,
        admin.id: admin.display_name or admin.email,
    }


async def test_names_and_use_stay_inside_the_tenant(db: AsyncSession) -> None:
    _, member, admin = await _capped(db, "100.00", "0.05")
    await admit(db, member, "0.04", at=NOV_10)
    asked = await _cap_request(db, member, "0.50")
    stranger = await factories.user(db, await factories.organization(db), role="org_admin")

    assert await increase_requests.waiting(db, principal_of(admin)) == 1
    assert await increase_requests.waiting(db, principal_of(stranger)) == 0  # another tenant's queue
    assert await increase_requests.waiting(db, principal_of(member)) == 0  # not a decider
    assert await increase_requests.people(db, principal_of(stranger), {member.id}) == {}
    assert (await increase_requests.mine(db, principal_of(stranger), None, 10)).items == []
    assert await increase_requests.requester_use(db, principal_of(admin), asked, at=NOV_10) == Decimal("0.04")
    with pytest.raises(Forbidden):  # the deciding context is the deciders'
        await increase_requests.requester_use(db, principal_of(member), asked, at=NOV_10)


async def test_a_capped_person_may_spend_the_lesser_of_their_cap_and_the_department(
    db: AsyncSession,
) -> None:
    _, member, admin = await _capped(db, "100.00", "0.05")
    await admit(db, member, "0.04", at=NOV_10)
    view = await budgets.available_to_requester(db, principal_of(member), at=NOV_10)
    assert view is not None
    assert (view.cap_left_aud, view.may_spend_aud) == (Decimal("0.01"), Decimal("0.01"))
    assert view.available_aud > Decimal("99")  # the department's figure alone would mislead

    asked = await _cap_request(db, member, "0.50")
    decision = IncreaseDecision.model_validate({"decision": "approved", "amount_aud": "0.30", "reason": "ok"})
    await increase_requests.decide(db, principal_of(admin), asked.id, decision, at=NOV_10)
    raised = await budgets.available_to_requester(db, principal_of(member), at=NOV_10)
    assert raised is not None and raised.may_spend_aud == Decimal("0.31")


async def test_the_department_bounds_what_a_capped_person_may_spend(db: AsyncSession) -> None:
    _, member, _ = await _capped(db, "0.20", "5.00")
    view = await budgets.available_to_requester(db, principal_of(member), at=NOV_10)
    assert view is not None
    assert (view.cap_left_aud, view.may_spend_aud) == (Decimal("5.00"), Decimal("0.20"))

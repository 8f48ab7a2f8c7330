"""Who hears about what: a threshold reaches the department's managers, a finished export the person who
asked, a failed or refused generation its owner (never the prompt)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello import audit
from donatello.budgets import alerts
from donatello.models import DepartmentBudget
from donatello.notifications import kinds
from tests.support import factories
from tests.support.budget_request_story import department, drain, notifications_of
from tests.support.ledger import principal_of


async def test_a_threshold_crossing_reaches_the_departments_managers_only(
    db: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    manager, admin = await department(db)
    elsewhere = await factories.user(db, await factories.organization(db), role="dept_manager")
    member = await factories.colleague(db, manager, role="standard_user")
    budget = await db.get(DepartmentBudget, (await _budget_id(db, manager.department_id)))
    assert budget is not None
    budget.current_spend_aud = Decimal("8.00")
    await db.flush()
    await alerts.raise_alert(db, budget, 80, at=budget.updated_at)
    await drain(sessions)

    [told] = await notifications_of(db, manager)
    assert told.kind == "budget_threshold_crossed"
    assert "80%" in told.title and "A$8.00 of its A$10.00" in told.body
    for nobody in (admin, member, elsewhere):
        assert await notifications_of(db, nobody) == []


async def test_a_refused_generation_tells_its_owner_without_the_prompt(
    db: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    manager, _ = await department(db)
    generation_id = uuid.uuid4()
    await audit.record(
        db,
        audit.event(
            "generation.failed",
            action="generation_failed",
            resource=("generation", generation_id),
            organization_id=manager.organization_id,
            actor=audit.Actor(manager.id),
            status="failure",
            error="content filtered",
            details={
                "reason": "content filtered",
                "content_filter": {"stage": "prompt", "categories": ["violence"]},
            },
        ),
    )
    await audit.record_event(
        db,
        "cost_events.export_completed",
        action="cost_export_completed",
        resource=("export_job", uuid.uuid4()),
        organization_id=manager.organization_id,
        actor=principal_of(manager),
        details={"from": "2026-11-01", "to": "2026-11-30", "format": "csv", "rows_written": 12},
    )
    await drain(sessions)

    told = {n.kind: n for n in await notifications_of(db, manager)}
    refused = told["generation_failed"]
    assert refused.title == "Your generation was refused by the safety system"
    assert refused.link == f"/gallery/{generation_id}"
    assert told["export_ready"].title == "Your cost export is ready"
    assert "2026-11-01" in told["export_ready"].body and told["export_ready"].link == "/exports"


def test_a_decision_on_a_cap_request_names_the_cap_and_one_on_the_budget_names_the_department() -> None:
    """The subjects the budget requests record: ``user_cap`` and ``department``."""

    def decided(subject: str) -> kinds.Message | None:
        document = {
            "event_type": "budget.increase_decided",
            "metadata": {
                "subject": subject,
                "status": "approved",
                "amount_aud": "0.50",
                "approved_amount_aud": "0.30",
                "requested_by": str(uuid.uuid4()),
                "reason": "Part now",
            },
        }
        return kinds.message(document, "Marketing")

    cap, budget = decided("user_cap"), decided("department")
    assert cap is not None and budget is not None
    assert (
        cap.body
        == "Your request for A$0.50 more on your cap was approved: A$0.30 of A$0.50. Reason: Part now"
    )
    assert budget.body.startswith("Your request for A$0.50 more on Marketing's budget was approved")


async def _budget_id(db: AsyncSession, department_id: uuid.UUID | None) -> uuid.UUID:
    found = await db.scalar(
        select(DepartmentBudget.id).where(DepartmentBudget.department_id == department_id)
    )
    assert found is not None
    return found

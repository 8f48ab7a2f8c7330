"""The seed's constraints and the database's own rules hold against real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from donatello.models import DepartmentBudget, Generation, UserSession
from tests.support import factories


async def _rejected(db: AsyncSession, row: object, constraint: str) -> None:
    with pytest.raises(IntegrityError, match=constraint):
        async with db.begin_nested():
            db.add(row)
            await db.flush()


async def test_a_completed_generation_needs_an_image_url(db: AsyncSession) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    member = await factories.user(db, org, department=dept)
    done_without_image = Generation(
        organization_id=org.id,
        user_id=member.id,
        department_id=dept.id,
        model_provider="local",
        model_name="pillow-sketch",
        prompt_encrypted="sealed",
        status="completed",
        completed_at=datetime.now(UTC),
    )
    await _rejected(db, done_without_image, "ck_generations_completed")


async def test_a_revoked_session_needs_revoked_at(db: AsyncSession) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org)
    session = UserSession(
        organization_id=org.id,
        user_id=member.id,
        family_id=member.id,
        refresh_token_hash="hash",
        expires_at=datetime.now(UTC) + timedelta(days=1),
        revoked=True,
    )
    await _rejected(db, session, "ck_user_sessions_revoked_at")


async def test_department_codes_are_unique_within_an_organization_only(db: AsyncSession) -> None:
    org, other = await factories.organization(db), await factories.organization(db)
    await factories.department(db, org, code="MKTG")
    await factories.department(db, other, code="MKTG")  # another organization may reuse it
    from donatello.models import Department

    await _rejected(
        db, Department(organization_id=org.id, name="Marketing 2", code="MKTG"), "uq_dept_org_code"
    )


async def test_a_budget_period_must_end_after_it_starts(db: AsyncSession) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    backwards = DepartmentBudget(
        organization_id=org.id,
        department_id=dept.id,
        monthly_budget_aud=Decimal("100.00"),
        budget_period_start=date(2026, 11, 30),
        budget_period_end=date(2026, 11, 30),
    )
    await _rejected(db, backwards, "ck_department_budgets_budget_period")


async def test_money_is_stored_exactly(db: AsyncSession) -> None:
    org = await factories.organization(db)
    spend = await factories.budget(db, await factories.department(db, org), monthly_aud="0.30")
    await db.execute(
        text(
            "UPDATE department_budgets SET current_spend_aud = current_spend_aud + 0.1 + 0.2 WHERE id = :id"
        ),
        {"id": spend.id},
    )
    stored = (
        await db.execute(
            text("SELECT current_spend_aud FROM department_budgets WHERE id = :id"), {"id": spend.id}
        )
    ).scalar_one()
    assert stored == Decimal("0.3000")


async def test_updated_at_is_maintained_by_the_database(db: AsyncSession) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    # Even a writer that tries to set updated_at itself gets the database's clock.
    await db.execute(
        text("UPDATE departments SET name = 'Renamed', updated_at = '2000-01-01T00:00:00Z' WHERE id = :id"),
        {"id": dept.id},
    )
    after, now = (
        await db.execute(text("SELECT updated_at, now() FROM departments WHERE id = :id"), {"id": dept.id})
    ).one()
    assert after == now  # the trigger's clock (this transaction's), not the 2000-01-01 the writer sent


@pytest.fixture
async def owner(postgres_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection as the schema owner (superuser): the triggers must stop even it."""
    engine: AsyncEngine = create_async_engine(postgres_url)
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
        yield connection
        await transaction.rollback()
    await engine.dispose()


async def _world(connection: AsyncConnection) -> dict[str, uuid.UUID | int]:
    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
    org = await factories.organization(session)
    return await factories.tenant_world(session, org)


async def test_cost_events_cannot_be_updated_or_deleted_even_by_the_owner(owner: AsyncConnection) -> None:
    ids = await _world(owner)
    for statement in (
        "UPDATE cost_events SET actual_cost_aud = 0 WHERE id = :id",
        "DELETE FROM cost_events WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="cost events are immutable"):
            async with owner.begin_nested():
                await owner.execute(text(statement), {"id": ids["cost_events"]})


async def test_the_application_role_has_no_update_or_delete_right_on_cost_events(db: AsyncSession) -> None:
    org = await factories.organization(db)
    ids = await factories.tenant_world(db, org)
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.begin_nested():
            await db.execute(
                text("UPDATE cost_events SET actual_cost_aud = 0 WHERE id = :id"), {"id": ids["cost_events"]}
            )


async def test_audit_outbox_rows_can_only_be_marked_delivered_once(owner: AsyncConnection) -> None:
    ids = await _world(owner)
    row = {"id": ids["audit_outbox"]}
    with pytest.raises(DBAPIError, match="append-only"):
        async with owner.begin_nested():
            await owner.execute(
                text("UPDATE audit_outbox SET payload = '{\"forged\": true}' WHERE id = :id"), row
            )
    await owner.execute(
        text("UPDATE audit_outbox SET delivered_at = now(), chain_hash = repeat('a', 64) WHERE id = :id"), row
    )
    with pytest.raises(DBAPIError, match="append-only"):
        async with owner.begin_nested():
            await owner.execute(
                text("UPDATE audit_outbox SET chain_hash = repeat('b', 64) WHERE id = :id"), row
            )
    with pytest.raises(DBAPIError, match="cannot be deleted"):
        async with owner.begin_nested():
            await owner.execute(text("DELETE FROM audit_outbox WHERE id = :id"), row)

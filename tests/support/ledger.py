"""Helpers for ledger tests: committed tenants (for real concurrency) and one-call admissions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from donatello.budgets import reservations, settlement
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.core.money import to_ledger_precision
from donatello.generations import admission
from donatello.models import BudgetReservation, CostEvent, Department, Generation, User
from donatello.pricing.service import Quote
from donatello.tenancy import Principal, Role
from tests.support import factories


def principal_of(member: User) -> Principal:
    return Principal(
        user_id=member.id,
        organization_id=member.organization_id,
        department_id=member.department_id,
        role=Role(member.role),
        email=member.email,
    )


def flat_quote(amount: str, images: int = 1) -> Quote:
    unit = Decimal(amount)
    return Quote(
        provider="local",
        model="pillow-sketch",
        size="1024x1024",
        quality="standard",
        images=images,
        unit_price_aud=unit,
        total_aud=unit * images,
        pricing_currency="AUD",
        unit_price_in_pricing_currency=unit,
        fx_rate=Decimal(1),
        fx_rate_source=None,
        fx_rate_date=None,
    )


def usd_quote(unit_usd: str, rate: str, images: int = 1) -> Quote:
    """A quote for a model priced in USD: the per-image AUD price is the USD price at ``rate``, rounded
    once (as pricing.quote does)."""
    unit_aud = to_ledger_precision(Decimal(unit_usd) * Decimal(rate))
    return replace(
        flat_quote(str(unit_aud), images),
        pricing_currency="USD",
        unit_price_in_pricing_currency=Decimal(unit_usd),
        fx_rate=Decimal(rate),
        fx_rate_source="test rate",
        fx_rate_date=date(2026, 1, 1),
    )


def pending_generation(member: User, generation_id: uuid.UUID | None = None) -> Generation:
    assert member.department_id is not None
    return Generation(
        id=generation_id or uuid.uuid4(),
        organization_id=member.organization_id,
        user_id=member.id,
        department_id=member.department_id,
        model_provider="local",
        model_name="pillow-sketch",
        prompt_encrypted="sealed",
    )


@dataclass(frozen=True)
class Admitted:
    """A generation admitted by admission's own path, and the budget holds written with it."""

    generation: Generation
    holds: list[BudgetReservation]

    @property
    def total_aud(self) -> Decimal:
        return sum((hold.amount_aud for hold in self.holds), Decimal(0))

    @property
    def flagged(self) -> bool:
        """Admitted past the budget or the user's cap (soft or warn)."""
        return self.generation.is_over_budget


async def admit(session: AsyncSession, member: User, amount: str, *, at: datetime | None = None) -> Admitted:
    """Hold for one new generation the way admission does: the budget's gate, else its decision."""
    return await admit_generation(
        session, principal_of(member), pending_generation(member), Decimal(amount), at=at
    )


async def admit_generation(
    session: AsyncSession,
    principal: Principal,
    generation: Generation,
    amount: Decimal,
    *,
    at: datetime | None = None,
    hold_for: timedelta = reservations.DEFAULT_HOLD,
) -> Admitted:
    """``generation`` (unsaved) admitted at ``amount`` through ``admission.hold_and_write`` — the path every
    request takes after its quote; raises the budget's refusals as admission does."""
    at = at or utcnow()
    generation.reservation_aud, generation.created_at, generation.next_attempt_at = amount, at, at
    [saved] = await admission.hold_and_write(session, principal, [generation], at=at, hold_for=hold_for)
    stmt = select(BudgetReservation).where(BudgetReservation.generation_id == saved.id)
    return Admitted(saved, list((await session.execute(stmt)).scalars()))


async def settle(
    session: AsyncSession, admitted: Admitted, amount: str, *, at: datetime | None = None
) -> CostEvent:
    return await settlement.settle(session, admitted.generation.id, flat_quote(amount), at=at)


@dataclass
class CommittedTenant:
    organization_id: uuid.UUID
    department: Department
    members: list[User]


@asynccontextmanager
async def committed_tenant(
    engine: AsyncEngine,
    postgres_url: str,
    *,
    budget: str,
    mode: str = "hard",
    members: int = 1,
    period: tuple[date, date] | None = None,
    cap: str | None = None,
) -> AsyncIterator[CommittedTenant]:
    """A tenant whose rows are committed (visible to every connection), removed afterwards."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        org = await factories.organization(session)
        dept = await factories.department(session, org)
        people = [
            await factories.user(session, org, department=dept, role="power_user") for _ in range(members)
        ]
        kwargs = {"period": period} if period else {}
        row = await factories.budget(session, dept, monthly_aud=budget, mode=mode, **kwargs)
        if cap is not None:
            row.per_user_monthly_cap_aud = Decimal(cap)
    try:
        yield CommittedTenant(org.id, dept, people)
    finally:
        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:
            # The ledger only lets the retention job delete; a test tenant leaves the same way.
            await connection.execute(text("SELECT set_config('app.retention', 'on', true)"))
            await connection.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org.id})
        await owner.dispose()

"""A realistic month of one department's spend for the dashboard: a few hundred generations on working
days (a quieter weekend, a pace that picks up as the month goes on), a mix of models, sizes and image
counts, admitted and charged through the real ledger (admission's own hold, then ``settlement.settle``
at each one's own instant), committed in the live server's database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import settlement
from donatello.budgets.periods import period_at
from donatello.core.clock import utcnow
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.models import Department, DepartmentBudget, User
from donatello.pricing.service import Quote
from donatello.tenancy import Principal, Role
from tests.support.ledger import admit_generation, pending_generation
from tests.web.world import _run

#: provider, model, size, quality, A$ per image, how often it is chosen
MIX = (
    ("azure-openai", "dall-e-3", "1024x1024", "standard", "0.0800", 5),
    ("azure-openai", "dall-e-3", "1792x1024", "hd", "0.2400", 2),
    ("stability", "sd3-medium", "1024x1024", "standard", "0.0531", 3),
    ("local", "pillow-sketch", "1024x1024", "standard", "0.0100", 1),
)


def spend_a_month(owner_url: str, app_role: str, timezone: str, code: str, budget: str) -> int:
    """Set department ``code``'s budget for this period to ``budget`` and charge it from the period's
    first day until an hour ago; returns how many generations were charged."""

    async def run() -> int:
        rng = random.Random(15)
        zone = ZoneInfo(timezone)
        now = utcnow()
        period = period_at(now, timezone)
        engine = create_engine(owner_url, app_role=app_role, pool_size=1)
        charged = 0
        try:
            async with transaction(create_sessionmaker(engine), platform=True) as session:
                department = (
                    await session.execute(select(Department).where(Department.code == code))
                ).scalar_one()
                await session.execute(
                    update(DepartmentBudget)
                    .where(
                        DepartmentBudget.department_id == department.id,
                        DepartmentBudget.budget_period_start == period.start,
                    )
                    .values(monthly_budget_aud=Decimal(budget))
                )
                people = list(
                    (await session.execute(select(User).where(User.department_id == department.id))).scalars()
                )
                day = period.start
                while day <= now.astimezone(zone).date():
                    weekend = day.weekday() >= 5
                    count = 3 if weekend else 8 + (day - period.start).days // 2 + rng.randrange(4)
                    for _ in range(count):
                        local = datetime.combine(day, time(8), zone) + timedelta(minutes=rng.randrange(600))
                        at = local.astimezone(UTC)
                        if at > now - timedelta(hours=1):
                            continue
                        await _charge(session, rng, rng.choice(people), at)
                        charged += 1
                    day += timedelta(days=1)
        finally:
            await engine.dispose()
        return charged

    return _run(run)


async def _charge(session: AsyncSession, rng: random.Random, member: User, at: datetime) -> None:
    provider, model, size, quality, price, _ = rng.choices(MIX, weights=[m[5] for m in MIX])[0]
    images = rng.choice((1, 1, 2, 2, 3, 4))
    unit = Decimal(price)
    quote = Quote(
        provider=provider,
        model=model,
        size=size,
        quality=quality,
        images=images,
        unit_price_aud=unit,
        total_aud=unit * images,
        pricing_currency="AUD",
        unit_price_in_pricing_currency=unit,
        fx_rate=Decimal(1),
        fx_rate_source=None,
        fx_rate_date=None,
    )
    assert member.department_id is not None
    principal = Principal(
        user_id=member.id,
        organization_id=member.organization_id,
        department_id=member.department_id,
        role=Role(member.role),
        email=member.email,
    )
    generation = pending_generation(member)
    generation.model_provider, generation.model_name = provider, model
    generation_id = (
        await admit_generation(session, principal, generation, quote.total_aud, at=at)
    ).generation.id
    await settlement.settle(session, generation_id, quote, at=at + timedelta(seconds=rng.randrange(8, 40)))

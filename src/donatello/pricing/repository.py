from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import FxRate, ModelProvider


async def active_model(session: AsyncSession, provider: str, model: str) -> ModelProvider | None:
    stmt = select(ModelProvider).where(
        ModelProvider.provider_name == provider,
        ModelProvider.model_name == model,
        ModelProvider.is_active.is_(True),
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_rate(session: AsyncSession, currency: str, on: date) -> FxRate | None:
    """The newest rate effective on or before ``on``."""
    stmt = (
        select(FxRate)
        .where(FxRate.base_currency == currency, FxRate.quote_currency == "AUD", FxRate.effective_date <= on)
        .order_by(FxRate.effective_date.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()

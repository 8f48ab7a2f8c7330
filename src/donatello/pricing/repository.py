from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core import catalogue
from donatello.models import FxRate, ModelPrice, ModelProvider


async def active_model(session: AsyncSession, provider: str, model: str) -> ModelProvider | None:
    """The active model's row (a read-only copy, cached by the catalogue's version: ``core.catalogue``)."""

    async def load() -> ModelProvider | None:
        stmt = select(ModelProvider).where(
            ModelProvider.provider_name == provider,
            ModelProvider.model_name == model,
            ModelProvider.is_active.is_(True),
        )
        return catalogue.detached((await session.execute(stmt)).scalar_one_or_none())

    return await catalogue.cached(session, ("active_model", provider, model), load)


async def latest_rate(session: AsyncSession, currency: str, on: date) -> FxRate | None:
    """The newest rate effective on or before ``on`` (a read-only copy, cached by the catalogue's version)."""

    async def load() -> FxRate | None:
        stmt = (
            select(FxRate)
            .where(
                FxRate.base_currency == currency, FxRate.quote_currency == "AUD", FxRate.effective_date <= on
            )
            .order_by(FxRate.effective_date.desc())
            .limit(1)
        )
        return catalogue.detached((await session.execute(stmt)).scalar_one_or_none())

    return await catalogue.cached(session, ("latest_rate", currency, on), load)


async def price_versions(session: AsyncSession, provider_id: uuid.UUID) -> list[ModelPrice]:
    """Every price version of the model, oldest first (read-only copies, cached by the catalogue's
    version). The whole history is cached, never "the current price": which version is in effect is
    decided per quote by the instant, so a scheduled price takes effect at its instant in every process
    although nothing changed the catalogue then."""

    async def load() -> list[ModelPrice]:
        stmt = (
            select(ModelPrice)
            .where(ModelPrice.provider_id == provider_id)
            .order_by(ModelPrice.effective_from)
        )
        return [catalogue.detached(row) for row in (await session.execute(stmt)).scalars()]

    return await catalogue.cached(session, ("price_versions", provider_id), load)

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core import catalogue
from donatello.core.database import add_unless_taken
from donatello.models import (
    Department,
    ModelPrice,
    ModelProvider,
    Organization,
    ProviderConfig,
    UserPreference,
)


async def offered(session: AsyncSession) -> list[tuple[ModelProvider, ProviderConfig | None]]:
    """Active models with their configuration, in fallback order (priority, then name); cached by the
    catalogue's version (``core.catalogue``), so the rows are read-only copies."""

    async def load() -> list[tuple[ModelProvider, ProviderConfig | None]]:
        stmt = (
            select(ModelProvider, ProviderConfig)
            .outerjoin(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
            .where(ModelProvider.is_active.is_(True))
            .order_by(ModelProvider.priority, ModelProvider.provider_name, ModelProvider.model_name)
        )
        rows = (await session.execute(stmt)).all()
        return [(catalogue.detached(row[0]), catalogue.detached(row[1])) for row in rows]

    return await catalogue.cached(session, "offered", load)


async def department_settings(session: AsyncSession, department_id: uuid.UUID) -> dict[str, Any]:
    stmt = select(Department.settings).where(Department.id == department_id)
    return dict((await session.execute(stmt)).scalar_one_or_none() or {})


async def required_processing_country(session: AsyncSession, department_id: uuid.UUID) -> str | None:
    """The department's ``require_processing_in``, cached with the catalogue."""

    async def load() -> str | None:
        stmt = select(Department.require_processing_in).where(Department.id == department_id)
        return (await session.execute(stmt)).scalar_one_or_none()

    return await catalogue.cached(session, ("require_processing_in", department_id), load)


async def user_preference(session: AsyncSession, user_id: uuid.UUID, key: str) -> Any:
    stmt = select(UserPreference.preference_value).where(
        UserPreference.user_id == user_id, UserPreference.preference_key == key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def page(
    session: AsyncSession, *, include_inactive: bool, after: list[Any] | None, limit: int
) -> list[tuple[ModelProvider, ProviderConfig | None]]:
    stmt = (
        select(ModelProvider, ProviderConfig)
        .outerjoin(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
        .order_by(ModelProvider.provider_name, ModelProvider.model_name)
    )
    if not include_inactive:
        stmt = stmt.where(ModelProvider.is_active.is_(True))
    if after is not None:
        stmt = stmt.where(
            tuple_(ModelProvider.provider_name, ModelProvider.model_name) > tuple_(after[0], after[1])
        )
    return [(row[0], row[1]) for row in (await session.execute(stmt.limit(limit))).all()]


async def get(session: AsyncSession, provider_id: uuid.UUID) -> ModelProvider | None:
    return await session.get(ModelProvider, provider_id)


async def config_for(session: AsyncSession, provider_id: uuid.UUID) -> ProviderConfig | None:
    stmt = select(ProviderConfig).where(ProviderConfig.provider_id == provider_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, provider: ModelProvider) -> bool:
    """Insert; False when the provider already offers the model (the transaction stays usable)."""
    return await add_unless_taken(session, provider)


async def save(session: AsyncSession, row: ModelProvider | ProviderConfig) -> None:
    session.add(row)
    await session.flush()
    await session.refresh(row)


async def mark_unavailable(
    session: AsyncSession, provider: str, model: str, reason: str, error: str, at: datetime
) -> ModelProvider | None:
    """Make the model unavailable unless it already is; the row when this call did it. The condition is
    re-checked under the row's lock, so of two workers noticing at once exactly one succeeds."""
    stmt = (
        update(ModelProvider)
        .where(
            ModelProvider.provider_name == provider,
            ModelProvider.model_name == model,
            ModelProvider.unavailable_reason.is_(None),
        )
        .values(unavailable_reason=reason[:500], unavailable_since=at, last_error=error[:2000])
        .returning(ModelProvider)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def waiting_for_credentials(
    session: AsyncSession, reason_prefix: str
) -> list[tuple[uuid.UUID, datetime, dict[str, Any]]]:
    """(id, unavailable since, credential) of active models made unavailable for their credential."""
    stmt = (
        select(ModelProvider.id, ModelProvider.unavailable_since, ProviderConfig.credential)
        .join(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
        .where(
            ModelProvider.is_active.is_(True),
            ModelProvider.unavailable_reason.startswith(reason_prefix, autoescape=True),
            ProviderConfig.credential.is_not(None),
        )
        .order_by(ModelProvider.unavailable_since)
    )
    return [(row[0], row[1], row[2]) for row in (await session.execute(stmt)).all()]


async def mark_available(session: AsyncSession, model_id: uuid.UUID, since: datetime) -> ModelProvider | None:
    """Make the model available again if it is still unavailable since ``since`` (nobody changed it
    meanwhile); the row when this call did it."""
    stmt = (
        update(ModelProvider)
        .where(ModelProvider.id == model_id, ModelProvider.unavailable_since == since)
        .values(unavailable_reason=None, unavailable_since=None)
        .returning(ModelProvider)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def price_versions(session: AsyncSession, provider_id: uuid.UUID) -> list[ModelPrice]:
    """The model's price versions, oldest first."""
    stmt = select(ModelPrice).where(ModelPrice.provider_id == provider_id).order_by(ModelPrice.effective_from)
    return list((await session.execute(stmt)).scalars())


async def prices_in_effect(
    session: AsyncSession, provider_ids: list[uuid.UUID], at: datetime
) -> dict[uuid.UUID, ModelPrice]:
    """The version in effect at ``at`` of each model that has one begun by then."""
    stmt = (
        select(ModelPrice)
        .where(ModelPrice.provider_id.in_(provider_ids), ModelPrice.effective_from <= at)
        .order_by(ModelPrice.provider_id, ModelPrice.effective_from.desc())
        .ext(distinct_on(ModelPrice.provider_id))
    )
    return {row.provider_id: row for row in (await session.execute(stmt)).scalars()}


async def put_price(session: AsyncSession, values: dict[str, Any]) -> ModelPrice:
    """Write the version at its ``effective_from`` (default: this moment), replacing a version at that
    very instant: callers only ever replace one that has not taken effect (a scheduled one)."""
    row = values if "effective_from" in values else {**values, "effective_from": func.clock_timestamp()}
    written = insert(ModelPrice).values(**row)
    stmt = written.on_conflict_do_update(
        constraint="uq_model_prices_provider_from",
        set_={key: written.excluded[key] for key in row if key not in ("provider_id", "effective_from")},
    ).returning(ModelPrice)
    version: ModelPrice = (
        await session.execute(stmt, execution_options={"populate_existing": True})
    ).scalar_one()
    return version


async def price_set_by(session: AsyncSession, user_id: uuid.UUID | None) -> None:
    """Name who sets prices in this transaction: the version the database records for a model's price
    change (a trigger on ``model_providers``) says so."""
    await session.execute(
        select(func.set_config("donatello.price_set_by", str(user_id) if user_id else "", True))
    )


async def claim_retirement_warning(session: AsyncSession, today: date, days: int) -> list[ModelProvider]:
    """Active models retiring within ``days`` after ``today`` and not yet warned that near, marked warned
    at ``days``: the update is the claim, so each model is returned once per warning."""
    stmt = (
        update(ModelProvider)
        .where(
            ModelProvider.is_active.is_(True),
            ModelProvider.retires_on.is_not(None),
            ModelProvider.retires_on > today,
            ModelProvider.retires_on <= today + timedelta(days=days),
            or_(ModelProvider.retirement_warned_days.is_(None), ModelProvider.retirement_warned_days > days),
        )
        .values(retirement_warned_days=days)
        .returning(ModelProvider)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars().all())


async def platform_organization_id(session: AsyncSession) -> uuid.UUID | None:
    """The platform organization, where platform administrators are; None before it exists."""
    return (await session.execute(select(Organization.id).where(Organization.is_platform))).scalar()

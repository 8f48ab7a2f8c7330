"""SQL for reconciliations: imports and their rows, the catalogue, FX rates and our side (daily rollups)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import (
    CostDailyRollup,
    FxRate,
    ModelProvider,
    Organization,
    Reconciliation,
    ReconciliationLine,
    ReconciliationRow,
    User,
)
from donatello.tenancy import Principal, scope

R = CostDailyRollup


async def organization_settings(session: AsyncSession, organization_id: uuid.UUID) -> dict[str, Any] | None:
    stmt = select(Organization.settings).where(Organization.id == organization_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def organization_for_update(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    stmt = select(Organization).where(Organization.id == organization_id).with_for_update()
    found: Organization | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def catalogue(session: AsyncSession) -> set[tuple[str, str]]:
    """Every (provider, model) of the catalogue, active or not: a bill may name a retired model."""
    rows = await session.execute(select(ModelProvider.provider_name, ModelProvider.model_name))
    return {(provider, model) for provider, model in rows}


async def rates(
    session: AsyncSession, currencies: Sequence[str], last_day: date
) -> dict[str, list[tuple[date, Decimal, str]]]:
    """Rates into AUD for ``currencies`` effective up to ``last_day`` (a few per day at most)."""
    if not currencies:
        return {}
    stmt = select(FxRate.base_currency, FxRate.effective_date, FxRate.rate, FxRate.source).where(
        FxRate.quote_currency == "AUD",
        FxRate.base_currency.in_(currencies),
        FxRate.effective_date <= last_day,
    )
    found: dict[str, list[tuple[date, Decimal, str]]] = {}
    for currency, effective, rate, source in await session.execute(stmt):
        found.setdefault(currency, []).append((effective, rate, source))
    return found


async def charged(
    session: AsyncSession,
    organization_id: uuid.UUID,
    first: date,
    last: date,
    provider: str,
    models: Sequence[tuple[str, str]],
) -> dict[tuple[date, str, str], tuple[Decimal, int]]:
    """Our net AUD (charges + refunds + corrections) and images per (local day, provider, model), for
    the provider's models and any other model its lines were mapped to."""
    in_scope = R.provider == provider
    if models:
        in_scope = or_(in_scope, tuple_(R.provider, R.model).in_(list(models)))
    stmt = (
        select(
            R.day,
            R.provider,
            R.model,
            func.sum(R.charges_aud + R.refunds_aud + R.corrections_aud),
            func.sum(R.images),
        )
        .where(R.organization_id == organization_id, R.day >= first, R.day <= last, in_scope)
        .group_by(R.day, R.provider, R.model)
    )
    return {
        (day, provider_name, model): (Decimal(net), int(images))
        for day, provider_name, model, net, images in await session.execute(stmt)
    }


async def by_fingerprint(
    session: AsyncSession, organization_id: uuid.UUID, content_sha256: str, config_sha256: str
) -> Reconciliation | None:
    stmt = select(Reconciliation).where(
        Reconciliation.organization_id == organization_id,
        Reconciliation.content_sha256 == content_sha256,
        Reconciliation.config_sha256 == config_sha256,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_if_new(session: AsyncSession, **values: Any) -> uuid.UUID | None:
    """Insert an import unless one with its fingerprint exists (then None, once that one committed)."""
    stmt = (
        pg_insert(Reconciliation)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_reconciliations_fingerprint")
        .returning(Reconciliation.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def save_outcome(
    session: AsyncSession,
    reconciliation: Reconciliation,
    lines: list[dict[str, Any]],
    rows: list[dict[str, Any]],
) -> None:
    owner = {"organization_id": reconciliation.organization_id, "reconciliation_id": reconciliation.id}
    if lines:
        await session.execute(insert(ReconciliationLine), [{**owner, **line} for line in lines])
    if rows:
        await session.execute(insert(ReconciliationRow), [{**owner, **row} for row in rows])


async def find(
    session: AsyncSession, principal: Principal, reconciliation_id: uuid.UUID
) -> Reconciliation | None:
    stmt = scope(
        select(Reconciliation).where(Reconciliation.id == reconciliation_id), principal, Reconciliation
    )
    found: Reconciliation | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def page(
    session: AsyncSession, principal: Principal, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> Sequence[Reconciliation]:
    """The organization's reconciliations, newest first."""
    stmt = scope(select(Reconciliation), principal, Reconciliation)
    if after is not None:
        stmt = stmt.where(tuple_(Reconciliation.created_at, Reconciliation.id) < tuple_(*after))
    stmt = stmt.order_by(Reconciliation.created_at.desc(), Reconciliation.id.desc()).limit(limit)
    found: Sequence[Reconciliation] = (await session.execute(stmt)).scalars().all()
    return found


async def rows_page(
    session: AsyncSession,
    reconciliation_id: uuid.UUID,
    *,
    flagged_only: bool,
    after: tuple[date, str, str] | None,
    limit: int,
) -> Sequence[ReconciliationRow]:
    stmt = select(ReconciliationRow).where(ReconciliationRow.reconciliation_id == reconciliation_id)
    if flagged_only:
        stmt = stmt.where(ReconciliationRow.flagged)
    key = (ReconciliationRow.day, ReconciliationRow.provider_name, ReconciliationRow.model_name)
    if after is not None:
        stmt = stmt.where(tuple_(*key) > tuple_(*after))
    return (await session.execute(stmt.order_by(*key).limit(limit))).scalars().all()


async def unlisted_lines_page(
    session: AsyncSession, reconciliation_id: uuid.UUID, after: tuple[date, str, uuid.UUID] | None, limit: int
) -> Sequence[ReconciliationLine]:
    """Provider lines left out of the comparison (unmapped, no FX rate, outside the period)."""
    L = ReconciliationLine
    stmt = select(L).where(L.reconciliation_id == reconciliation_id, L.status != "mapped")
    if after is not None:
        stmt = stmt.where(tuple_(L.day, L.source_key, L.id) > tuple_(*after))
    return (await session.execute(stmt.order_by(L.day, L.source_key, L.id).limit(limit))).scalars().all()


async def all_rows(session: AsyncSession, reconciliation_id: uuid.UUID) -> Sequence[ReconciliationRow]:
    stmt = (
        select(ReconciliationRow)
        .where(ReconciliationRow.reconciliation_id == reconciliation_id)
        .order_by(ReconciliationRow.day, ReconciliationRow.provider_name, ReconciliationRow.model_name)
    )
    return (await session.execute(stmt)).scalars().all()


async def all_lines(session: AsyncSession, reconciliation_id: uuid.UUID) -> Sequence[ReconciliationLine]:
    L = ReconciliationLine
    stmt = select(L).where(L.reconciliation_id == reconciliation_id).order_by(L.day, L.source_key, L.currency)
    return (await session.execute(stmt)).scalars().all()


async def claim_queued(session: AsyncSession, *, stale_before: datetime) -> Reconciliation | None:
    """The oldest import waiting to run: queued, or running on a worker that stopped beating."""
    abandoned = and_(Reconciliation.status == "running", Reconciliation.heartbeat_at < stale_before)
    stmt = (
        select(Reconciliation)
        .where(or_(Reconciliation.status == "queued", abandoned))
        .order_by(Reconciliation.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def for_update(session: AsyncSession, reconciliation_id: uuid.UUID) -> Reconciliation | None:
    stmt = select(Reconciliation).where(Reconciliation.id == reconciliation_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def beat(session: AsyncSession, reconciliation_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(Reconciliation)
        .where(Reconciliation.id == reconciliation_id, Reconciliation.status == "running")
        .values(heartbeat_at=now)
    )


async def emails(
    session: AsyncSession, principal: Principal, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Who requested each import (the principal's organization's people only)."""
    if not user_ids:
        return {}
    stmt = scope(select(User).where(User.id.in_(list(user_ids))), principal, User)
    return {user.id: user.email for user in (await session.execute(stmt)).scalars()}

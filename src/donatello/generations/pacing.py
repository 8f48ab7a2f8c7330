"""A model's quota paces its calls instead of refusing people.

A deployment's ``rate_limit_per_minute`` is kept by every worker process together: each claim of a job
on a model with a quota records the call (``model_calls``, in PostgreSQL, so the embedded default and a
scaled-out deployment behave the same), and a claim only picks a job whose model has room in the rolling
window. The window is ``generation_quota_window_seconds`` (60 by default), holding the quota's share of
it — at least one call, so a quota under one call per window stretches the window instead.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.generations.job import Job
from donatello.models import Generation, ModelCall, ModelProvider, ProviderConfig


def window_and_quota(rate_per_minute: int, window_seconds: float) -> tuple[float, int]:
    """The rolling window a quota is counted over and the calls allowed in it."""
    window = max(window_seconds, 60 / rate_per_minute)
    return window, max(1, math.floor(rate_per_minute * window / 60))


def _window_sql(window_seconds: float) -> ColumnElement[float]:
    return func.greatest(window_seconds, 60.0 / ProviderConfig.rate_limit_per_minute)


def model_has_room(now: datetime, window_seconds: float) -> ColumnElement[bool]:
    """For the claim: the generation's model has no quota, or room for one more call in its window."""
    window = _window_sql(window_seconds)
    used = (
        select(func.count())
        .where(
            ModelCall.provider_id == ModelProvider.id,
            ModelCall.called_at > now - func.make_interval(0, 0, 0, 0, 0, 0, window),
        )
        .scalar_subquery()
    )
    full = (
        select(ModelProvider.id)
        .join(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
        .where(
            ModelProvider.provider_name == Generation.model_provider,
            ModelProvider.model_name == Generation.model_name,
            ProviderConfig.rate_limit_per_minute.is_not(None),
            used >= func.greatest(1, func.floor(ProviderConfig.rate_limit_per_minute * window / 60)),
        )
    )
    return ~exists(full)


async def take_call(session: AsyncSession, job: Job, now: datetime, window_seconds: float) -> bool:
    """Record a call to the model if its window has room (always, for a model with no quota); False when
    another worker took the last place first. Claims on one model take turns (a transaction lock)."""
    row = (
        await session.execute(
            select(ModelProvider.id, ProviderConfig.rate_limit_per_minute)
            .join(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
            .where(ModelProvider.provider_name == job.provider, ModelProvider.model_name == job.model)
        )
    ).first()
    if row is None or row.rate_limit_per_minute is None:
        return True
    window, quota = window_and_quota(row.rate_limit_per_minute, window_seconds)
    lock = func.hashtextextended(f"model-calls:{row.id}", 0)
    await session.execute(select(func.pg_advisory_xact_lock(lock)))
    since = now - timedelta(seconds=window)
    await session.execute(
        delete(ModelCall).where(ModelCall.provider_id == row.id, ModelCall.called_at <= since)
    )
    used = await session.scalar(
        select(func.count()).where(and_(ModelCall.provider_id == row.id, ModelCall.called_at > since))
    )
    if (used or 0) >= quota:
        return False
    await session.execute(insert(ModelCall).values(provider_id=row.id, generation_id=job.id, called_at=now))
    return True


#: A request reaches the provider within this of its stamp (commit and a busy event loop included): the
#: stamp is that much late, so the provider never sees more than the quota in a window of its own.
ARRIVAL_ALLOWANCE = timedelta(seconds=0.25)


async def stamp_call(session: AsyncSession, generation_id: uuid.UUID, now: datetime) -> None:
    """Move the job's latest call to just after ``now``, as it is sent: the time between a claim and its
    request (prompt unsealed, candidates read) varies, and the provider counts requests as they arrive."""
    latest = (
        select(ModelCall.id)
        .where(ModelCall.generation_id == generation_id)
        .order_by(ModelCall.called_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    stamp = now + ARRIVAL_ALLOWANCE
    await session.execute(update(ModelCall).where(ModelCall.id == latest).values(called_at=stamp))


async def queued_ahead(session: AsyncSession, provider: str, model: str) -> int:
    """Calls the model still owes: its jobs waiting or in flight."""
    count = await session.scalar(
        select(func.count()).where(
            Generation.model_provider == provider,
            Generation.model_name == model,
            Generation.status.in_(("pending", "processing")),
        )
    )
    return int(count or 0)

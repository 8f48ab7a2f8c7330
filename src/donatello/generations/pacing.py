"""A model's quota paces its calls instead of refusing people.

A deployment's ``rate_limit_per_minute`` (requests) and ``token_limit_per_minute`` (tokens, for models
priced per token) are kept by every worker process together: each claim of a job on a model with a
quota records the call (``model_calls``, in PostgreSQL, so the embedded default and a scaled-out
deployment behave the same), and a claim only picks a job whose model has room in the rolling window.
The window is ``generation_quota_window_seconds`` (60 by default), holding the quota's share of it — at
least one call, so a request quota under one call per window stretches the window instead.

Tokens: a call counts its bound (``call_token_bound``: the documented output tokens and the prompt's
bound, what admission priced) while in flight, and what the provider reported once it answers
(``answered``). A call fits when the window's tokens and its own stay within the window's share — or
when the window holds no tokens at all, so a call larger than the share still goes, alone.

A 429 from the provider at saturation cools the deployment down (``cool_down``, ``model_pacing``): no
worker process claims or sends a call of it before the provider's Retry-After has passed, and the job
that got the 429 waits in the queue for it rather than retrying on its own.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.generations.job import Job
from donatello.models import Generation, ModelCall, ModelPace, ModelProvider, ProviderConfig
from donatello.pricing.service import PER_TOKEN, Quote
from donatello.providers import ImageResult, ProviderError, ProviderRateLimited

#: how much one finished call moves a model's seconds per call (an exponential moving average)
CALL_TIME_WEIGHT = 0.2


def window_and_quota(rate_per_minute: int, window_seconds: float) -> tuple[float, int]:
    """The rolling window a quota is counted over and the calls allowed in it."""
    window = max(window_seconds, 60 / rate_per_minute)
    return window, max(1, math.floor(rate_per_minute * window / 60))


def token_share(tokens_per_minute: int, window: float) -> int:
    """The tokens a window of ``window`` seconds holds of a per-minute token quota."""
    return max(1, math.floor(tokens_per_minute * window / 60))


def call_token_bound(quote: Quote) -> int | None:
    """The most tokens a call priced by this quote can use: what admission held money for."""
    if quote.pricing_unit != PER_TOKEN or quote.output_tokens_per_image is None:
        return None
    return quote.output_tokens_per_image * quote.images + (quote.input_text_tokens_bound or 0)


def _window_sql(window_seconds: float) -> ColumnElement[float]:
    # greatest() skips the NULL of a model without a request quota
    return func.greatest(window_seconds, 60.0 / ProviderConfig.rate_limit_per_minute)


def model_has_room(now: datetime, window_seconds: float) -> ColumnElement[bool]:
    """For the claim: the generation's model has no quota, or room for one more call (and its tokens) in
    its window, and is not cooling down after a 429."""
    window = _window_sql(window_seconds)
    in_window = and_(
        ModelCall.provider_id == ModelProvider.id,
        ModelCall.called_at > now - func.make_interval(0, 0, 0, 0, 0, 0, window),
    )
    used = select(func.count()).where(in_window).scalar_subquery()
    tokens = select(func.coalesce(func.sum(ModelCall.tokens), 0)).where(in_window).scalar_subquery()
    bound = func.coalesce(Generation.details["token_bound"].as_integer(), 0)
    token_share_sql = func.greatest(1, func.floor(ProviderConfig.token_limit_per_minute * window / 60))
    cooling = exists(
        select(ModelPace.provider_id).where(
            ModelPace.provider_id == ModelProvider.id, ModelPace.cool_down_until > now
        )
    )
    full = (
        select(ModelProvider.id)
        .outerjoin(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
        .where(
            ModelProvider.provider_name == Generation.model_provider,
            ModelProvider.model_name == Generation.model_name,
            or_(
                and_(
                    ProviderConfig.rate_limit_per_minute.is_not(None),
                    used >= func.greatest(1, func.floor(ProviderConfig.rate_limit_per_minute * window / 60)),
                ),
                and_(
                    ProviderConfig.token_limit_per_minute.is_not(None),
                    tokens > 0,
                    tokens + bound > token_share_sql,
                ),
                cooling,
            ),
        )
    )
    return ~exists(full)


async def take_call(session: AsyncSession, job: Job, now: datetime, window_seconds: float) -> bool:
    """Record a call to the model if its window has room (always, for a model with no quota); False when
    another worker took the last place first. Claims on one model take turns (a transaction lock)."""
    row = (
        await session.execute(
            select(
                ModelProvider.id,
                ProviderConfig.rate_limit_per_minute,
                ProviderConfig.token_limit_per_minute,
            )
            .join(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
            .where(ModelProvider.provider_name == job.provider, ModelProvider.model_name == job.model)
        )
    ).first()
    if row is None or (row.rate_limit_per_minute is None and row.token_limit_per_minute is None):
        return True
    if row.rate_limit_per_minute is not None:
        window, quota = window_and_quota(row.rate_limit_per_minute, window_seconds)
    else:
        window, quota = window_seconds, None
    lock = func.hashtextextended(f"model-calls:{row.id}", 0)
    await session.execute(select(func.pg_advisory_xact_lock(lock)))
    since = now - timedelta(seconds=window)
    await session.execute(
        delete(ModelCall).where(ModelCall.provider_id == row.id, ModelCall.called_at <= since)
    )
    used, tokens = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(ModelCall.tokens), 0)).where(
                ModelCall.provider_id == row.id, ModelCall.called_at > since
            )
        )
    ).one()
    if quota is not None and used >= quota:
        return False
    bound, tokens = int(job.details.get("token_bound") or 0), int(tokens or 0)
    limit = row.token_limit_per_minute
    if limit is not None and tokens > 0 and tokens + bound > token_share(limit, window):
        return False
    await session.execute(
        insert(ModelCall).values(
            provider_id=row.id, generation_id=job.id, called_at=now, tokens=bound or None
        )
    )
    return True


async def answered(
    session: AsyncSession, job: Job, provider: str, model: str, result: ImageResult, now: datetime
) -> None:
    """A call of the job's model answered: its reported tokens replace its bound in the window; it is
    stamped no earlier than the adapter sent it (a busy event loop may have sent it later than its
    stamp said); its time moves the model's seconds per call (for estimated starts)."""
    if (provider, model) != (job.provider, job.model):
        return  # a fallback answered: the admitted model's call failed, its bound stands for the window
    seconds = result.latency_ms / 1000
    sent = now - timedelta(seconds=seconds) + ARRIVAL_ALLOWANCE
    values: dict[str, Any] = {"called_at": func.greatest(ModelCall.called_at, sent)}
    if (usage := result.usage) is not None:
        values["tokens"] = usage.input_text_tokens + usage.input_image_tokens + usage.output_image_tokens
    await session.execute(update(ModelCall).where(ModelCall.generation_id == job.id).values(**values))
    await _average_call_time(session, provider, model, seconds)


async def _average_call_time(session: AsyncSession, provider: str, model: str, seconds: float) -> None:
    """Move the model's seconds per call towards ``seconds``. Every call's answer would otherwise queue
    on the one row: when another worker is updating it right now, this sample is skipped (an average)."""
    model_id = (
        select(ModelProvider.id)
        .where(ModelProvider.provider_name == provider, ModelProvider.model_name == model)
        .scalar_subquery()
    )
    free = (
        select(ModelPace.provider_id)
        .where(ModelPace.provider_id == model_id)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    moving = ModelPace.seconds_per_call * (1 - CALL_TIME_WEIGHT) + seconds * CALL_TIME_WEIGHT
    moved = await session.execute(
        update(ModelPace)
        .where(ModelPace.provider_id == free)
        .values(seconds_per_call=func.coalesce(moving, seconds))
        .returning(ModelPace.provider_id)
    )
    if moved.first() is None:  # its first call (or one being counted right now): nothing waits
        first = pg_insert(ModelPace).from_select(
            ["provider_id", "seconds_per_call"], select(model_id, literal(seconds))
        )
        await session.execute(first.on_conflict_do_nothing(index_elements=[ModelPace.provider_id]))


#: A request reaches the provider within this of its stamp (commit and a busy event loop included): the
#: stamp is that much late, so the provider never sees more than the quota in a window of its own.
ARRIVAL_ALLOWANCE = timedelta(seconds=0.25)


async def stamp_call(session: AsyncSession, job: Job, now: datetime) -> datetime | None:
    """Move the job's latest call to just after ``now``, as it is sent: the time between a claim and its
    request (prompt unsealed, candidates read) varies, and the provider counts requests as they arrive.
    If its model began cooling down since the claim, the call is not made: its place is given back and
    the end of the cool-down returned."""
    cooling = await session.scalar(
        select(ModelPace.cool_down_until)
        .join(ModelProvider, ModelProvider.id == ModelPace.provider_id)
        .where(
            ModelProvider.provider_name == job.provider,
            ModelProvider.model_name == job.model,
            ModelPace.cool_down_until > now,
        )
    )
    if cooling is not None:
        await session.execute(delete(ModelCall).where(ModelCall.generation_id == job.id))
        return cooling
    latest = (
        select(ModelCall.id)
        .where(ModelCall.generation_id == job.id)
        .order_by(ModelCall.called_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    stamp = now + ARRIVAL_ALLOWANCE
    await session.execute(update(ModelCall).where(ModelCall.id == latest).values(called_at=stamp))
    return None


#: how long a deployment cools down after a 429 that did not say (Azure's always says)
DEFAULT_COOL_DOWN_SECONDS = 10.0


def cool_down_seconds(error: ProviderRateLimited) -> float:
    return error.retry_after_seconds or DEFAULT_COOL_DOWN_SECONDS


def wait_for_quota(last: ProviderError | None, bound: float, now: datetime) -> datetime | None:
    """When every candidate failed and the last said 429 (to come back within the queue's ``bound``):
    when the job may be tried again. None: it failed for another reason, or would wait too long."""
    if not isinstance(last, ProviderRateLimited) or not last.retryable:
        return None
    wait = cool_down_seconds(last)
    return now + timedelta(seconds=wait) if wait <= bound else None


async def cool_down(session: AsyncSession, provider: str, model: str, until: datetime) -> None:
    """The deployment answered 429: no worker process claims a call of it before ``until`` (a later
    cool-down already set stands)."""
    model_id = select(ModelProvider.id, literal(until)).where(
        ModelProvider.provider_name == provider, ModelProvider.model_name == model
    )
    stmt = pg_insert(ModelPace).from_select(["provider_id", "cool_down_until"], model_id)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ModelPace.provider_id],
            set_={"cool_down_until": func.greatest(ModelPace.cool_down_until, stmt.excluded.cool_down_until)},
        )
    )


async def queued_ahead(session: AsyncSession, provider: str, model: str) -> int:
    """Calls the model still owes: every organization's jobs for it waiting or in flight (counted by
    ``model_queue_length()``: a tenant's transaction sees only its own rows)."""
    count = await session.scalar(select(func.model_queue_length(provider, model)))
    return int(count or 0)

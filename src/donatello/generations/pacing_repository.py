"""The statements behind ``generations.pacing`` and the estimates: the places taken in each model
deployment's quota window (``model_calls``), its shared pacing state (``model_pacing``) and what its queue
still owes. Every statement is platform-wide: a deployment's quota is shared by every tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import Generation, ModelCall, ModelPace, ModelProvider, ProviderConfig

_NEVER: ColumnElement[datetime] = literal_column("'infinity'::timestamptz")


@dataclass(frozen=True)
class ModelQuota:
    """A deployment's quotas, per minute (None: none of that kind), and its cool-down if one is running."""

    id: uuid.UUID
    calls_per_minute: int | None
    tokens_per_minute: int | None
    cooling_until: datetime | None


@dataclass(frozen=True)
class Held:
    """The places a model's window holds: how many, and their tokens."""

    calls: int
    tokens: int


@dataclass(frozen=True)
class ModelState:
    """What an estimate reads of a model: its quotas, cool-down, recent seconds per call, the calls in its
    window (when each was or will be sent, and its tokens, oldest first), and what its queue owes."""

    calls_per_minute: int | None
    tokens_per_minute: int | None
    cool_down_until: datetime | None
    seconds_per_call: float | None
    calls: list[tuple[datetime, int]]
    owed_calls: int
    owed_tokens: int


def _window_sql(window_seconds: float) -> ColumnElement[float]:
    # greatest() skips the NULL of a model without a request quota
    return func.greatest(window_seconds, 60.0 / ProviderConfig.rate_limit_per_minute)


def model_has_room(now: datetime, window_seconds: float, most_ahead_seconds: float) -> ColumnElement[bool]:
    """For the claim: the generation's model has no quota, or a place for one more call (and its tokens)
    in its window as it will be a little ahead (``least(most_ahead_seconds, window / 4)``: the call is
    prepared while the place frees), and is not cooling down after a 429. Each model's use is counted
    once per claim (an anti-join), not once per waiting job."""
    window = _window_sql(window_seconds)
    ahead = func.least(most_ahead_seconds, window / 4)
    since = now + func.make_interval(0, 0, 0, 0, 0, 0, ahead - window)
    in_window = and_(ModelCall.provider_id == ModelProvider.id, ModelCall.called_at > since)
    cooling = exists(
        select(ModelPace.provider_id).where(
            ModelPace.provider_id == ModelProvider.id, ModelPace.cool_down_until > now
        )
    )
    # NULL without such a quota (greatest() would skip the NULL and give 1)
    calls_per_minute, tokens_per_minute = (
        ProviderConfig.rate_limit_per_minute,
        ProviderConfig.token_limit_per_minute,
    )
    per_window = case(
        (calls_per_minute.is_not(None), func.greatest(1, func.floor(calls_per_minute * window / 60)))
    )
    token_share = case(
        (tokens_per_minute.is_not(None), func.greatest(1, func.floor(tokens_per_minute * window / 60)))
    )
    use = (
        select(
            ModelProvider.provider_name.label("provider"),
            ModelProvider.model_name.label("model"),
            select(func.count()).where(in_window).scalar_subquery().label("calls"),
            select(func.coalesce(func.sum(ModelCall.tokens), 0))
            .where(in_window)
            .scalar_subquery()
            .label("tokens"),
            per_window.label("per_window"),
            token_share.label("token_share"),
            cooling.label("cooling"),
        )
        .outerjoin(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
        .where(
            or_(
                ProviderConfig.rate_limit_per_minute.is_not(None),
                ProviderConfig.token_limit_per_minute.is_not(None),
                cooling,
            )
        )
        .subquery("model_use")
    )
    bound = func.coalesce(Generation.details["token_bound"].as_integer(), 0)
    full = select(use.c.provider).where(
        use.c.provider == Generation.model_provider,
        use.c.model == Generation.model_name,
        or_(
            use.c.calls >= use.c.per_window,  # NULL: no request quota, never full
            and_(use.c.tokens > 0, use.c.tokens + bound > use.c.token_share),  # NULL: no token quota
            use.c.cooling,
        ),
    )
    return ~exists(full)


async def quota_of(session: AsyncSession, provider: str, model: str, now: datetime) -> ModelQuota | None:
    """The model's quotas and cool-down — and, when it has a quota, its turn to take places in its window:
    one process at a time, until the transaction ends (a transaction lock, taken in the same statement)."""
    calls, tokens = ProviderConfig.rate_limit_per_minute, ProviderConfig.token_limit_per_minute
    key = func.hashtextextended(literal("model-calls:") + cast(ModelProvider.id, String), 0)
    turn = case((or_(calls.is_not(None), tokens.is_not(None)), func.pg_advisory_xact_lock(key).is_(None)))
    row = (
        await session.execute(
            select(
                ModelProvider.id,
                calls,
                tokens,
                case((ModelPace.cool_down_until > now, ModelPace.cool_down_until)),
                turn,
            )
            .outerjoin(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
            .outerjoin(ModelPace, ModelPace.provider_id == ModelProvider.id)
            .where(ModelProvider.provider_name == provider, ModelProvider.model_name == model)
        )
    ).first()
    return ModelQuota(row[0], row[1], row[2], row[3]) if row is not None else None


async def give_back_unsent(session: AsyncSession, generation_id: uuid.UUID) -> None:
    """The job's places taken at its claim and never sent (not needed, or its worker died)."""
    await session.execute(
        delete(ModelCall).where(ModelCall.generation_id == generation_id, ModelCall.sent_at.is_(None))
    )


async def held(
    session: AsyncSession,
    provider_id: uuid.UUID,
    since: datetime,
    *,
    sent_only: bool,
    forget_before: datetime | None = None,
) -> Held:
    """The places the model's window holds after ``since``: every one (claims), or those sent (sends).
    With ``forget_before``, the places whose window passed by then are deleted in the same statement."""
    where = [ModelCall.provider_id == provider_id, ModelCall.called_at > since]
    if sent_only:
        where.append(ModelCall.sent_at.is_not(None))
    stmt = select(func.count(), func.coalesce(func.sum(ModelCall.tokens), 0)).where(*where)
    if forget_before is not None:  # the provider no longer counts them
        gone = delete(ModelCall).where(
            ModelCall.provider_id == provider_id, ModelCall.called_at <= forget_before
        )
        stmt = stmt.add_cte(gone.cte("forgotten"))
    calls, tokens = (await session.execute(stmt)).one()
    return Held(int(calls), int(tokens or 0))


async def frees_for(
    session: AsyncSession, provider_id: uuid.UUID, generation_id: uuid.UUID, since: datetime, excess: int
) -> datetime | None:
    """The ``called_at`` of the sent place whose end lets this job's request go: past the ``excess`` of
    places over the quota, one more for each job claimed before it and still waiting to send (they go
    first, as places free one by one). None: the window holds no such place."""
    mine = (
        select(ModelCall.called_at)
        .where(
            ModelCall.provider_id == provider_id,
            ModelCall.generation_id == generation_id,
            ModelCall.sent_at.is_(None),
        )
        .limit(1)
        .scalar_subquery()
    )
    waiting = ModelCall.provider_id == provider_id, ModelCall.sent_at.is_(None)
    ahead = select(func.count()).where(*waiting, ModelCall.called_at < func.coalesce(mine, _NEVER))
    return await session.scalar(
        select(ModelCall.called_at)
        .where(
            ModelCall.provider_id == provider_id, ModelCall.sent_at.is_not(None), ModelCall.called_at > since
        )
        .order_by(ModelCall.called_at)
        .offset(excess + ahead.scalar_subquery())
        .limit(1)
    )


async def reserve(
    session: AsyncSession,
    provider_id: uuid.UUID,
    generation_id: uuid.UUID,
    until: datetime,
    tokens: int | None,
) -> None:
    """A claimed job's place, not sent yet: held as if its call could reach the provider until ``until``."""
    await session.execute(
        insert(ModelCall).values(
            provider_id=provider_id, generation_id=generation_id, called_at=until, tokens=tokens
        )
    )


async def mark_sent(
    session: AsyncSession, provider_id: uuid.UUID, generation_id: uuid.UUID, at: datetime, until: datetime
) -> uuid.UUID | None:
    """The job's reserved place on the model, now sent (None: it has none)."""
    reserved = (
        select(ModelCall.id)
        .where(
            ModelCall.provider_id == provider_id,
            ModelCall.generation_id == generation_id,
            ModelCall.sent_at.is_(None),
        )
        .limit(1)
        .scalar_subquery()
    )
    row = await session.execute(
        update(ModelCall)
        .where(ModelCall.id == reserved)
        .values(sent_at=at, called_at=until)
        .returning(ModelCall.id)
    )
    return row.scalar_one_or_none()


async def add_sent(
    session: AsyncSession,
    provider_id: uuid.UUID,
    generation_id: uuid.UUID,
    at: datetime,
    until: datetime,
    tokens: int | None,
) -> uuid.UUID:
    """A place taken as a request is sent without a reservation (a retry, a part, a fallback)."""
    row = await session.execute(
        insert(ModelCall)
        .values(
            provider_id=provider_id, generation_id=generation_id, sent_at=at, called_at=until, tokens=tokens
        )
        .returning(ModelCall.id)
    )
    return row.scalar_one()


async def settle(
    session: AsyncSession, call_id: uuid.UUID, called_at: datetime | None, tokens: int | None
) -> None:
    """What is now known of a sent call: the latest it can have reached the provider, and its tokens."""
    values: dict[str, Any] = {}
    if called_at is not None:
        values["called_at"] = func.least(ModelCall.called_at, called_at)
    if tokens is not None:
        values["tokens"] = tokens
    if values:
        await session.execute(update(ModelCall).where(ModelCall.id == call_id).values(**values))


async def cool_down(session: AsyncSession, provider: str, model: str, until: datetime) -> None:
    """No worker process claims or sends a call of the model before ``until`` (a later one set stands)."""
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


async def move_call_time(
    session: AsyncSession, provider: str, model: str, seconds: float, weight: float
) -> None:
    """Move the model's seconds per call ``weight`` of the way towards ``seconds``. Every answer would
    otherwise queue on the one row: when another worker is updating it right now, this sample is skipped."""
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
    moving = ModelPace.seconds_per_call * (1 - weight) + seconds * weight
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


async def model_state(
    session: AsyncSession,
    provider: str,
    model: str,
    now: datetime,
    window_seconds: float,
    allowance: timedelta,
    *,
    owed: bool,
) -> ModelState | None:
    """One statement: the model's quotas and pacing, the calls in its window — each at when it was sent,
    or now for a place claimed and not sent yet — and, with ``owed``, what its waiting jobs still owe
    (``model_queue_owed()``: a tenant's transaction sees only its own jobs, the queue is everyone's)."""
    window = _window_sql(window_seconds)
    sent = func.least(ModelCall.called_at, func.coalesce(ModelCall.sent_at, now) + allowance)
    in_window = and_(
        ModelCall.provider_id == ModelProvider.id,
        ModelCall.called_at > now - func.make_interval(0, 0, 0, 0, 0, 0, window),
    )
    times = select(func.array_agg(aggregate_order_by(sent, sent))).where(in_window).scalar_subquery()
    tokens = (
        select(func.array_agg(aggregate_order_by(func.coalesce(ModelCall.tokens, 0), sent)))
        .where(in_window)
        .scalar_subquery()
    )
    columns: list[Any] = [
        ProviderConfig.rate_limit_per_minute,
        ProviderConfig.token_limit_per_minute,
        ModelPace.cool_down_until,
        ModelPace.seconds_per_call,
        times,
        tokens,
    ]
    stmt = (
        select(*columns)
        .select_from(ModelProvider)
        .outerjoin(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
        .outerjoin(ModelPace, ModelPace.provider_id == ModelProvider.id)
        .where(ModelProvider.provider_name == provider, ModelProvider.model_name == model)
    )
    if owed:
        queue = func.model_queue_owed(provider, model).table_valued("calls", "tokens").alias("owed")
        stmt = stmt.add_columns(queue.c.calls, queue.c.tokens).join(queue, true())
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    calls = list(zip(row[4] or [], row[5] or [], strict=True))
    return ModelState(
        calls_per_minute=row[0],
        tokens_per_minute=row[1],
        cool_down_until=row[2],
        seconds_per_call=row[3],
        calls=calls,
        owed_calls=int(row[6]) if owed else 0,
        owed_tokens=int(row[7]) if owed else 0,
    )


async def queue(session: AsyncSession) -> list[Any]:
    """Every organization's waiting and running jobs, with only what their order and quotas need
    (``generation_queue()``: a tenant's transaction cannot see other tenants' rows)."""
    return list(await session.execute(text("SELECT * FROM generation_queue()")))

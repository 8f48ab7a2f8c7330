"""SQL for generations: the rows, the history views and the worker queue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import CTE, and_, func, inspect, literal, or_, select, text, true, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from donatello.core import bulk
from donatello.core.money import to_ledger_precision
from donatello.generations import pacing_repository
from donatello.models import (
    AuditOutbox,
    CostEvent,
    Generation,
    GenerationBatch,
    GenerationMetadata,
    Organization,
    QueueTurn,
)


async def lock_idempotency_key(session: AsyncSession, user_id: uuid.UUID, key: str) -> None:
    """Serialise requests that carry the same key, so the second sees the first's row."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"idem:{user_id}:{key}"}
    )


async def by_idempotency_key(session: AsyncSession, user_id: uuid.UUID, key: str) -> Generation | None:
    stmt = select(Generation).where(
        Generation.user_id == user_id, Generation.idempotency_key == key, Generation.batch_id.is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def batch_by_idempotency_key(
    session: AsyncSession, user_id: uuid.UUID, key: str
) -> GenerationBatch | None:
    stmt = select(GenerationBatch).where(
        GenerationBatch.user_id == user_id, GenerationBatch.idempotency_key == key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, *rows: Any) -> None:
    session.add_all(rows)
    await session.flush()


async def add_admitted(
    session: AsyncSession,
    rows: Sequence[Generation],
    events: Sequence[dict[str, Any]],
    *,
    along: tuple[tuple[Any, ...], dict[str, Any]] = ((), {}),
) -> list[Generation]:
    """Insert new generations and the outbox rows that audit them in one statement (a data-modifying CTE)
    instead of a unit-of-work flush per row: the same transaction, one round trip. ``along`` carries other
    writes into that statement (CTEs built once per shape, and their parameters): the budget's holds.
    ``rows`` are unsaved generations; the saved ones come back in the same order, with the database's
    defaults."""
    stmt, parameters = _admission(rows, events, along, None)
    saved = {row.id: row for row in (await session.scalars(stmt, parameters)).all()}
    return [saved[row.id] for row in rows]


async def add_admitted_if(
    session: AsyncSession,
    rows: Sequence[Generation],
    events: Sequence[dict[str, Any]],
    *,
    along: tuple[tuple[Any, ...], dict[str, Any]],
    gate: CTE,
    verdict: CTE,
) -> tuple[list[Generation], dict[str, Any] | None]:
    """``add_admitted``, written only if ``gate`` (one of the ``along`` CTEs) returned a row, with the row
    of ``verdict`` (another, of one row or none: why the gate let the rows through or not) selected beside
    them in the same statement. Empty and the verdict's row (None: it had none) when nothing was written."""
    stmt, parameters = _admission(rows, events, along, (gate, verdict))
    result = (await session.execute(stmt, parameters)).all()
    if not result:
        return [], None
    why = dict(zip(verdict.c.keys(), tuple(result[0])[1:], strict=True))
    saved = {row[0].id: row[0] for row in result if row[0] is not None}
    return ([saved[row.id] for row in rows] if saved else []), why


def _admission(
    rows: Sequence[Generation],
    events: Sequence[dict[str, Any]],
    along: tuple[tuple[Any, ...], dict[str, Any]],
    gated: tuple[CTE, CTE] | None,
) -> tuple[Any, dict[str, Any]]:
    values = [{key: row.__dict__[key] for key in _GENERATION_KEYS if key in row.__dict__} for row in rows]
    keys, event_keys = tuple(values[0]), tuple(events[0])
    ctes, extra = along
    parameters = {
        **bulk.row_parameters(Generation, keys, values),
        **bulk.row_parameters(AuditOutbox, event_keys, events),
        **extra,
    }
    return _admitted(keys, len(values), event_keys, len(events), ctes, gated), parameters


_GENERATION_KEYS = tuple(attribute.key for attribute in inspect(Generation).column_attrs)


@lru_cache(maxsize=64)
def _admitted(
    keys: tuple[str, ...],
    count: int,
    event_keys: tuple[str, ...],
    events: int,
    along: tuple[Any, ...],
    gated: tuple[CTE, CTE] | None,
) -> Any:
    if gated is None:
        recorded = bulk.insert_rows(AuditOutbox, event_keys, events).returning(AuditOutbox.id).cte("recorded")
        written = bulk.insert_rows(Generation, keys, count).add_cte(*along, recorded).returning(Generation)
        return select(Generation).from_statement(written)  # the ORM loads the returned rows
    gate, verdict = gated
    recorded = (
        bulk.insert_rows_if(AuditOutbox, event_keys, events, gate).returning(AuditOutbox.id).cte("recorded")
    )
    inserted = bulk.insert_rows_if(Generation, keys, count, gate).returning(*Generation.__table__.c)
    admitted = inserted.cte("admitted")
    # The verdict's one row, and the written generations beside it (none when the gate held nothing).
    return (
        select(aliased(Generation, admitted), verdict)
        .add_cte(*along, recorded)
        .select_from(verdict)
        .outerjoin(admitted, true())
    )


async def get(session: AsyncSession, generation_id: uuid.UUID, *, lock: bool = False) -> Generation | None:
    stmt = select(Generation).where(Generation.id == generation_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def page(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    department_id: uuid.UUID | None,
    status: str | None,
    model: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Generation]:
    stmt = select(Generation).where(
        Generation.organization_id == organization_id, Generation.is_deleted.is_(False)
    )
    if user_id is not None:
        stmt = stmt.where(Generation.user_id == user_id)
    if department_id is not None:
        stmt = stmt.where(Generation.department_id == department_id)
    if status is not None:
        stmt = stmt.where(Generation.status == status)
    if model is not None:
        stmt = stmt.where(
            or_(
                Generation.model_name == model,
                func.concat(Generation.model_provider, "/", Generation.model_name) == model,
            )
        )
    if created_from is not None:
        stmt = stmt.where(Generation.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Generation.created_at < created_to)
    if after is not None:
        stmt = stmt.where(tuple_(Generation.created_at, Generation.id) < tuple_(after[0], after[1]))
    stmt = stmt.order_by(Generation.created_at.desc(), Generation.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def batch(session: AsyncSession, batch_id: uuid.UUID) -> GenerationBatch | None:
    return (
        await session.execute(select(GenerationBatch).where(GenerationBatch.id == batch_id))
    ).scalar_one_or_none()


async def batch_members(session: AsyncSession, batch_id: uuid.UUID) -> list[Generation]:
    stmt = (
        select(Generation)
        .where(Generation.batch_id == batch_id)
        .order_by(Generation.details["position"].as_integer(), Generation.created_at, Generation.id)
    )
    return list((await session.execute(stmt)).scalars())


async def organization_settings(session: AsyncSession, organization_id: uuid.UUID) -> dict[str, Any]:
    stmt = select(Organization.settings).where(Organization.id == organization_id)
    return (await session.execute(stmt)).scalar_one_or_none() or {}


async def usage(
    session: AsyncSession, user_id: uuid.UUID, created_from: datetime | None, created_to: datetime | None
) -> dict[str, Any]:
    """Counts over the user's history as listed (deleted generations are gone from it); spend is the
    ledger's, which a deletion does not refund."""
    generations = [Generation.user_id == user_id, Generation.is_deleted.is_(False)]
    charges = [CostEvent.user_id == user_id]
    if created_from is not None:
        generations.append(Generation.created_at >= created_from)
        charges.append(CostEvent.created_at >= created_from)
    if created_to is not None:
        generations.append(Generation.created_at < created_to)
        charges.append(CostEvent.created_at < created_to)
    counts = select(
        func.count(),
        func.count().filter(Generation.status == "completed"),
        func.count().filter(Generation.status == "failed"),
        func.count().filter(Generation.status == "cancelled"),
        func.count().filter(Generation.status.in_(("pending", "processing"))),
        func.coalesce(func.sum(Generation.n).filter(Generation.status == "completed"), 0),
        func.avg(Generation.generation_time_ms).filter(Generation.status == "completed"),
    ).where(*generations)
    total, completed, failed, cancelled, in_progress, images, average = (await session.execute(counts)).one()
    spend = (
        await session.execute(select(func.coalesce(func.sum(CostEvent.actual_cost_aud), 0)).where(*charges))
    ).scalar_one()
    return {
        "total": total,
        "completed": completed,
        "failed": failed,
        "cancelled": cancelled,
        "in_progress": in_progress,
        "images": images,
        "average_generation_ms": int(average) if average is not None else None,
        "spend_aud": to_ledger_precision(Decimal(spend)),  # "0.0000" when nothing was spent, like the rest
    }


async def claim_next(
    session: AsyncSession,
    worker: str,
    now: datetime,
    lease: timedelta,
    quota_window_seconds: float,
    claim_ahead_seconds: float = 0.0,
) -> Generation | None:
    """Take the most urgent runnable job whose model has room in its quota (``pacing``; room
    ``claim_ahead_seconds`` ahead at most): pending and due, or processing with a lapsed lease (its worker
    died). Priority first; within a priority the
    department served longest ago, then its person served longest ago, then first come first served
    (``take_turn`` records each claim's turn); SKIP LOCKED lets workers claim in parallel."""
    runnable = and_(
        or_(
            and_(Generation.status == "pending", Generation.next_attempt_at <= now),
            and_(Generation.status == "processing", Generation.lease_expires_at < now),
        ),
        pacing_repository.model_has_room(now, quota_window_seconds, claim_ahead_seconds),
    )
    department_turn, user_turn = aliased(QueueTurn), aliased(QueueTurn)
    candidate = (
        select(Generation.id)
        .outerjoin(department_turn, department_turn.subject_id == Generation.department_id)
        .outerjoin(user_turn, user_turn.subject_id == Generation.user_id)
        .where(runnable)
        .order_by(
            Generation.priority,
            department_turn.served_at.asc().nulls_first(),
            user_turn.served_at.asc().nulls_first(),
            Generation.created_at,
        )
        .limit(1)
        .with_for_update(of=Generation, skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(Generation)
        .where(Generation.id == candidate)
        .values(
            status="processing",
            lease_owner=worker,
            lease_expires_at=now + lease,
            attempts=Generation.attempts + 1,
            # The first claim is when the generation started; a reclaim keeps it (the right side wins).
            details=literal({"started_at": now.isoformat()}, JSONB).op("||")(Generation.details),
        )
        .returning(Generation)
        .execution_options(populate_existing=True)
    )
    claimed = (await session.execute(stmt)).scalar_one_or_none()
    if claimed is not None:
        await take_turn(session, claimed, now)
    return claimed


async def take_turn(session: AsyncSession, generation: Generation, now: datetime) -> None:
    """The claimed job's department and person were served now: the others go before them next."""
    turns = [{"subject_id": generation.department_id, "served_at": now}]
    turns.append({"subject_id": generation.user_id, "served_at": now})
    stmt = pg_insert(QueueTurn).values(turns)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[QueueTurn.subject_id],
            set_={"served_at": func.greatest(QueueTurn.served_at, stmt.excluded.served_at)},
        )
    )


async def renew_lease(session: AsyncSession, generation_id: uuid.UUID, worker: str, until: datetime) -> bool:
    stmt = (
        update(Generation)
        .where(
            Generation.id == generation_id,
            Generation.status == "processing",
            Generation.lease_owner == worker,
        )
        .values(lease_expires_at=until)
        .returning(Generation.id)
    )
    return (await session.execute(stmt)).first() is not None


async def finish(
    session: AsyncSession, generation_id: uuid.UUID, worker: str, **values: Any
) -> Generation | None:
    """Move a job out of processing — only if this worker still holds it (not cancelled, not reclaimed)."""
    stmt = (
        update(Generation)
        .where(
            Generation.id == generation_id,
            Generation.status == "processing",
            Generation.lease_owner == worker,
        )
        .values(lease_owner=None, lease_expires_at=None, **values)
        .returning(Generation)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def defer(session: AsyncSession, generation_id: uuid.UUID, worker: str, until: datetime) -> None:
    """Back to the queue until ``until`` (its model is cooling down): the claim does not count as an
    attempt, since the provider was never asked or asked to wait."""
    await finish(
        session,
        generation_id,
        worker,
        status="pending",
        next_attempt_at=until,
        attempts=Generation.attempts - 1,
    )


def add_metadata(session: AsyncSession, row: GenerationMetadata) -> None:
    session.add(row)


async def queue_depth(session: AsyncSession) -> int:
    stmt = select(func.count()).where(Generation.status == "pending")
    return int((await session.execute(stmt)).scalar_one())


async def spend_by_model_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> list[Any]:
    """The user's ledger since ``since`` by billed model: (model, images, net AUD), largest spend first.
    Refunds and corrections (negative events) count in the net; their images do not."""
    model = (CostEvent.model_provider + "/" + CostEvent.model_name).label("model")
    stmt = (
        select(
            model,
            func.coalesce(func.sum(CostEvent.image_count).filter(CostEvent.actual_cost_aud > 0), 0),
            func.sum(CostEvent.actual_cost_aud),
        )
        .where(CostEvent.user_id == user_id, CostEvent.created_at >= since)
        .group_by(model)
        .order_by(func.sum(CostEvent.actual_cost_aud).desc(), model)
    )
    return list((await session.execute(stmt)).all())

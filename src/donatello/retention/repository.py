"""Queries of the retention job: small batches, each under ``FOR UPDATE SKIP LOCKED`` so a row somebody
else is changing is left for the next run instead of waited for, and keyset pagination on
(created_at, id) so a row skipped once is not picked again in the same run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import AuditOutbox, CostEvent, Generation, GenerationBatch, UserSession, WebhookDelivery

TERMINAL = ("completed", "failed", "cancelled")
RUN_EVENT = "retention.run"


@dataclass(frozen=True)
class Candidate:
    id: uuid.UUID
    created_at: datetime
    blobs: tuple[str, ...]


Cursor = tuple[datetime, uuid.UUID] | None


def _tier() -> ColumnElement[Any]:
    return func.coalesce(Generation.details["storage_tier"].astext, "Hot")


def to_archive(cutoff: datetime) -> ColumnElement[bool]:
    """Finished generations older than the cutoff whose blobs are still Hot (archived or not yet)."""
    return and_(
        Generation.created_at < cutoff,
        Generation.status.in_(TERMINAL),
        or_(Generation.is_deleted.is_(False), _tier() == "Hot"),
    )


def to_cold(cutoff: datetime) -> ColumnElement[bool]:
    """Archived generations older than the cutoff whose blobs are not in the Archive tier yet."""
    return and_(Generation.created_at < cutoff, Generation.is_deleted.is_(True), _tier() != "Archive")


def to_purge(cutoff: datetime) -> ColumnElement[bool]:
    """Generations deleted before the cutoff, none of whose cost events is younger than it (finance keeps
    cost events for the full period; deleting a generation deletes its cost events)."""
    young_cost = exists().where(CostEvent.generation_id == Generation.id, CostEvent.created_at >= cutoff)
    return and_(Generation.is_deleted.is_(True), Generation.deleted_at < cutoff, ~young_cost)


def _blob_count() -> ColumnElement[int]:
    images = func.jsonb_array_length(func.coalesce(Generation.details["images"], literal("[]", JSONB)))
    thumbs = func.jsonb_array_length(func.coalesce(Generation.details["thumbnails"], literal("[]", JSONB)))
    return func.coalesce(func.sum(images + thumbs), 0)


async def count_generations(session: AsyncSession, condition: ColumnElement[bool]) -> tuple[int, int]:
    """(rows, blobs) matching ``condition`` — what a dry run reports."""
    rows, blobs = (await session.execute(select(func.count(), _blob_count()).where(condition))).one()
    return int(rows), int(blobs)


async def next_generations(
    session: AsyncSession, condition: ColumnElement[bool], after: Cursor, limit: int
) -> list[Candidate]:
    """The next batch after ``after`` in (created_at, id) order, locked; rows others hold are skipped."""
    stmt = select(Generation.id, Generation.created_at, Generation.details).where(condition)
    if after is not None:
        stmt = stmt.where(tuple_(Generation.created_at, Generation.id) > tuple_(*after))
    stmt = (
        stmt.order_by(Generation.created_at, Generation.id)
        .limit(limit)
        .with_for_update(of=Generation, skip_locked=True)
    )
    return [
        Candidate(row.id, row.created_at, _blob_names(row.details))
        for row in (await session.execute(stmt)).all()
    ]


def _blob_names(details: dict[str, Any]) -> tuple[str, ...]:
    names = [*details.get("images", []), *details.get("thumbnails", [])]
    return tuple(str(name) for name in names if isinstance(name, str) and name)


async def mark_archived(
    session: AsyncSession, ids: Sequence[uuid.UUID], condition: ColumnElement[bool], tier: str, now: datetime
) -> int:
    """Soft-delete (keeping an earlier deletion time) and record the blobs' tier, where still due."""
    if not ids:
        return 0
    stmt = (
        update(Generation)
        .where(Generation.id.in_(ids), condition)
        .values(
            is_deleted=True,
            deleted_at=func.coalesce(Generation.deleted_at, now),
            details=Generation.details.op("||")(
                func.jsonb_build_object("storage_tier", literal(tier, String))
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def allow_retention_deletes(session: AsyncSession) -> None:
    """The ledger's triggers let this transaction delete cost events (cascading from generations)."""
    await session.execute(text("SELECT set_config('app.retention', 'on', true)"))


async def delete_generations(
    session: AsyncSession, ids: Sequence[uuid.UUID], condition: ColumnElement[bool]
) -> int:
    if not ids:
        return 0
    stmt = (
        delete(Generation)
        .where(Generation.id.in_(ids), condition)
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


def _expired_sessions(cutoff: datetime) -> ColumnElement[bool]:
    return UserSession.expires_at < cutoff


async def count_expired_sessions(session: AsyncSession, cutoff: datetime) -> int:
    return int(await session.scalar(select(func.count()).where(_expired_sessions(cutoff))) or 0)


async def delete_expired_sessions(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    batch = (
        select(UserSession.id)
        .where(_expired_sessions(cutoff))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = delete(UserSession).where(UserSession.id.in_(batch)).execution_options(synchronize_session=False)
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


def _empty_batches(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        GenerationBatch.created_at < cutoff,
        ~exists().where(Generation.batch_id == GenerationBatch.id),
    )


async def count_empty_batches(session: AsyncSession, cutoff: datetime) -> int:
    return int(await session.scalar(select(func.count()).where(_empty_batches(cutoff))) or 0)


async def delete_empty_batches(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    batch = (
        select(GenerationBatch.id)
        .where(_empty_batches(cutoff))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        delete(GenerationBatch)
        .where(GenerationBatch.id.in_(batch))
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def last_run_at(session: AsyncSession) -> datetime | None:
    """When the last (real) run finished: its platform audit event is the record."""
    stmt = select(func.max(AuditOutbox.created_at)).where(
        AuditOutbox.event_type == RUN_EVENT, AuditOutbox.organization_id.is_(None)
    )
    return await session.scalar(stmt)


def advisory_lock(key: str) -> Select[tuple[bool]]:
    """Statement taking a session-level advisory lock (held by its connection until unlocked)."""
    return select(func.pg_try_advisory_lock(func.hashtextextended(key, 0)))


def advisory_unlock(key: str) -> Select[tuple[bool]]:
    return select(func.pg_advisory_unlock(func.hashtextextended(key, 0)))


def _finished_deliveries(cutoff: datetime) -> ColumnElement[bool]:
    return and_(WebhookDelivery.status.in_(("delivered", "failed")), WebhookDelivery.created_at < cutoff)


async def count_finished_deliveries(session: AsyncSession, cutoff: datetime) -> int:
    return int(await session.scalar(select(func.count()).where(_finished_deliveries(cutoff))) or 0)


async def delete_finished_deliveries(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    """Delivered or given-up webhook deliveries past their keep time (pending ones are never touched)."""
    batch = (
        select(WebhookDelivery.id)
        .where(_finished_deliveries(cutoff))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        delete(WebhookDelivery)
        .where(WebhookDelivery.id.in_(batch))
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

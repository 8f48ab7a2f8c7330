from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit.events import AuditEvent, outbox_row
from donatello.models import AuditOutbox


async def add_to_outbox(session: AsyncSession, event: AuditEvent) -> None:
    session.add(AuditOutbox(**outbox_row(event)))
    await session.flush()  # in the database now, for anything else sharing the transaction


def _of_chain(organization_id: uuid.UUID | None) -> ColumnElement[bool]:
    if organization_id is None:
        return AuditOutbox.organization_id.is_(None)
    return AuditOutbox.organization_id == organization_id


def _settled(horizon_seconds: float) -> ColumnElement[bool]:
    # clock_timestamp(), not now(): a long transaction must still see time pass.
    return AuditOutbox.created_at <= func.clock_timestamp() - func.make_interval(
        0, 0, 0, 0, 0, 0, horizon_seconds
    )


async def pending_chains(session: AsyncSession, horizon_seconds: float, scan: int) -> list[uuid.UUID | None]:
    """Organizations (None = platform) with undelivered events, oldest outbox rows first."""
    oldest = (
        select(AuditOutbox.organization_id, AuditOutbox.id)
        .where(AuditOutbox.delivered_at.is_(None), _settled(horizon_seconds))
        .order_by(AuditOutbox.id)
        .limit(scan)
        .subquery()
    )
    rows = await session.execute(
        select(oldest.c.organization_id, func.min(oldest.c.id).label("first"))
        .group_by(oldest.c.organization_id)
        .order_by(text("first"))
    )
    return [row.organization_id for row in rows]


async def try_lock_chain(session: AsyncSession, organization_id: uuid.UUID | None) -> bool:
    """Take the chain's advisory lock for this transaction; False when another relay holds it."""
    key = f"audit-chain:{organization_id or 'platform'}"
    locked = await session.scalar(select(func.pg_try_advisory_xact_lock(func.hashtextextended(key, 0))))
    return bool(locked)


async def chain_head(session: AsyncSession, organization_id: uuid.UUID | None) -> tuple[int, str | None]:
    """(position, hash) of the chain's last placed event (delivered, or sealed and being shipped);
    (0, None) for an empty chain."""
    row = (
        await session.execute(
            select(AuditOutbox.chain_seq, AuditOutbox.chain_hash)
            .where(_of_chain(organization_id), AuditOutbox.chain_seq.is_not(None))
            .order_by(AuditOutbox.chain_seq.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return 0, None
    return int(row.chain_seq), row.chain_hash


async def delivered_head(session: AsyncSession, organization_id: uuid.UUID | None) -> int:
    """Position of the chain's last event recorded as delivered (0 for an empty chain): what verification
    expects the store to reach. A sealed batch still being shipped lies past it."""
    seq = await session.scalar(
        select(func.max(AuditOutbox.chain_seq)).where(
            _of_chain(organization_id), AuditOutbox.delivered_at.is_not(None)
        )
    )
    return int(seq or 0)


async def undelivered(
    session: AsyncSession, organization_id: uuid.UUID | None, horizon_seconds: float, limit: int
) -> list[AuditOutbox]:
    """Events not yet placed in the chain, in outbox order."""
    stmt = (
        select(AuditOutbox)
        .where(
            _of_chain(organization_id),
            AuditOutbox.delivered_at.is_(None),
            AuditOutbox.chain_seq.is_(None),
            _settled(horizon_seconds),
        )
        .order_by(AuditOutbox.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def sealed_undelivered(
    session: AsyncSession, organization_id: uuid.UUID | None, limit: int
) -> list[AuditOutbox]:
    """Events placed in the chain by a batch whose delivery was never recorded, in chain order."""
    stmt = (
        select(AuditOutbox)
        .where(
            _of_chain(organization_id),
            AuditOutbox.delivered_at.is_(None),
            AuditOutbox.chain_seq.is_not(None),
        )
        .order_by(AuditOutbox.chain_seq)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def seal(session: AsyncSession, chained: Sequence[tuple[int, int, str, str]]) -> None:
    """Record (outbox id, chain position, prev hash, chain hash) before shipping, delivery still pending:
    one statement for the whole batch."""
    if not chained:
        return
    ids, seqs, prevs, chains = (list(column) for column in zip(*chained, strict=True))
    # Planned for these very arrays, every time: psycopg prepares a statement after five runs, and
    # PostgreSQL's generic plan cannot see how many ids an array parameter holds — with the outbox's
    # statistics missing or stale it joined the batch to the outbox quadratically (0.2 s a batch of
    # 1,000 instead of 15 ms). Transaction-local: only the relay's sealing transaction plans this way.
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    result = await session.execute(
        text(
            "UPDATE audit_outbox AS o SET chain_seq = v.seq, prev_hash = v.prev, chain_hash = v.chain "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:prevs AS text[]), "
            "CAST(:chains AS text[])) AS v(id, seq, prev, chain) "
            "WHERE o.id = ANY(CAST(:ids AS bigint[])) AND o.id = v.id "
            "AND o.delivered_at IS NULL AND o.chain_seq IS NULL"
        ),
        {"ids": ids, "seqs": seqs, "prevs": prevs, "chains": chains},
    )
    if result.rowcount != len(chained):  # type: ignore[attr-defined]
        raise RuntimeError("another relay sealed part of this batch; the chain lock was not held")


async def mark_shipped(session: AsyncSession, outbox_ids: Sequence[int]) -> None:
    """Record delivery of sealed events, one statement for the batch (a repeat is a no-op)."""
    if not outbox_ids:
        return
    await session.execute(
        text(
            "UPDATE audit_outbox SET delivered_at = clock_timestamp() "
            "WHERE id = ANY(CAST(:ids AS bigint[])) AND delivered_at IS NULL AND chain_seq IS NOT NULL"
        ),
        {"ids": list(outbox_ids)},
    )


async def undelivered_by_event_ids(
    session: AsyncSession, event_ids: Sequence[uuid.UUID]
) -> list[AuditOutbox]:
    stmt = select(AuditOutbox).where(AuditOutbox.event_id.in_(event_ids), AuditOutbox.delivered_at.is_(None))
    return list((await session.execute(stmt)).scalars())


async def mark_delivered(session: AsyncSession, chained: Sequence[tuple[int, int, str, str]]) -> None:
    """Record delivery of (outbox id, chain position, prev hash, chain hash) — the one update allowed."""
    if not chained:
        return
    table = AuditOutbox.__table__
    assert isinstance(table, Table)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.delivered_at.is_(None))
        .values(
            chain_seq=bindparam("seq"),
            prev_hash=bindparam("prev"),
            chain_hash=bindparam("chain"),
            delivered_at=func.clock_timestamp(),
        )
    )
    await session.execute(
        stmt, [{"row_id": i, "seq": seq, "prev": prev, "chain": chain} for i, seq, prev, chain in chained]
    )


async def lag(session: AsyncSession) -> tuple[int, float | None]:
    """(undelivered count, age in seconds of the oldest undelivered event)."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.extract("epoch", func.clock_timestamp() - func.min(AuditOutbox.created_at)),
            ).where(AuditOutbox.delivered_at.is_(None))
        )
    ).one()
    return int(row[0]), float(row[1]) if row[1] is not None else None


async def chain_rows(
    session: AsyncSession,
    organization_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> list[AuditOutbox]:
    stmt = select(AuditOutbox).where(_of_chain(organization_id), AuditOutbox.delivered_at.is_not(None))
    if since:
        stmt = stmt.where(AuditOutbox.created_at >= since)
    if until:
        stmt = stmt.where(AuditOutbox.created_at < until)
    return list((await session.execute(stmt.order_by(AuditOutbox.chain_seq))).scalars())


def events_query(
    organization_id: uuid.UUID,
    filters: dict[str, Any],
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, int] | None,
) -> Select[Any]:
    stmt = select(AuditOutbox).where(AuditOutbox.organization_id == organization_id)
    if (user_id := filters.pop("user_id", None)) is not None:
        stmt = stmt.where(AuditOutbox.user_id == user_id)
    if (event_type := filters.pop("event_type", None)) is not None:
        stmt = stmt.where(AuditOutbox.event_type == event_type)
    for key, value in filters.items():
        if value is not None:
            stmt = stmt.where(AuditOutbox.payload[key].astext == str(value))
    if since:
        stmt = stmt.where(AuditOutbox.created_at >= since)
    if until:
        stmt = stmt.where(AuditOutbox.created_at < until)
    if after:
        stmt = stmt.where(
            or_(
                AuditOutbox.created_at < after[0],
                and_(AuditOutbox.created_at == after[0], AuditOutbox.id < after[1]),
            )
        )
    return stmt.order_by(AuditOutbox.created_at.desc(), AuditOutbox.id.desc())


async def events_page(session: AsyncSession, stmt: Select[Any], limit: int) -> list[AuditOutbox]:
    rows: list[AuditOutbox] = list((await session.execute(stmt.limit(limit))).scalars())
    return rows


async def event_document(
    session: AsyncSession, event_id: uuid.UUID, event_type: str
) -> dict[str, Any] | None:
    """One event's document by id and type (indexed for the types that are looked up: refusals)."""
    stmt = select(AuditOutbox.payload).where(
        AuditOutbox.event_id == event_id, AuditOutbox.event_type == event_type
    )
    found: dict[str, Any] | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def snapshot_xmin(session: AsyncSession) -> int:
    """Every transaction with a lower id has ended."""
    return int(
        await session.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")) or 0
    )


async def snapshot_xmax(session: AsyncSession) -> int:
    """No transaction with this id or a higher one had started when the snapshot was taken."""
    return int(
        await session.scalar(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")) or 0
    )


async def last_id_of_next(session: AsyncSession, after: int, batch: int) -> int:
    """The highest outbox id among the next ``batch`` rows after ``after`` (0 when there are none)."""
    high = await session.scalar(
        text(
            "SELECT max(id) FROM (SELECT id FROM audit_outbox WHERE id > :after ORDER BY id LIMIT :batch) s"
        ),
        {"after": after, "batch": batch},
    )
    return int(high or 0)


async def events_about(
    session: AsyncSession,
    organization_id: uuid.UUID,
    event_types: Sequence[str],
    resource_ids: Sequence[str],
    since: datetime,
    until: datetime,
) -> list[AuditOutbox]:
    """An organization's events of ``event_types`` about ``resource_ids`` in ``[since, until)``, oldest
    first (``idx_audit_outbox_org_created`` bounds the scan to the range)."""
    stmt = (
        select(AuditOutbox)
        .where(
            AuditOutbox.organization_id == organization_id,
            AuditOutbox.created_at >= since,
            AuditOutbox.created_at < until,
            AuditOutbox.event_type.in_(event_types),
            AuditOutbox.payload["resource_id"].astext.in_(resource_ids),
        )
        .order_by(AuditOutbox.created_at, AuditOutbox.id)
    )
    return list((await session.execute(stmt)).scalars())


async def undelivered_up_to(session: AsyncSession, limit: int) -> int:
    """Undelivered events, counted no further than ``limit`` (the cost stays bounded however far the
    relay is behind)."""
    waiting = select(AuditOutbox.id).where(AuditOutbox.delivered_at.is_(None)).limit(limit).subquery()
    return int(await session.scalar(select(func.count()).select_from(waiting)) or 0)


async def backlog_at_bound(session: AsyncSession, limit: int) -> int | None:
    """The undelivered events when they number ``limit`` or more; None when fewer.

    Two index lookups usually decide it: no more events can be waiting than there are ids from the
    oldest undelivered one to the newest. Only when that span reaches the bound — the store has been
    away a while — are they counted (capped: ~135 ms for a million on two busy cores, once a second)."""
    oldest = select(func.min(AuditOutbox.id)).where(AuditOutbox.delivered_at.is_(None)).scalar_subquery()
    newest = select(func.max(AuditOutbox.id)).scalar_subquery()
    first, last = (await session.execute(select(oldest, newest))).one()
    if first is None or last - first + 1 < limit:
        return None
    waiting = await undelivered_up_to(session, limit)
    return waiting if waiting >= limit else None

"""Reading the audit outbox after commit, in id order, without ever skipping a row.

Outbox ids are taken before their transactions commit, so a row with a lower id can become visible after a
higher one was read. A consumer (the webhook fan-out, notifications) keeps a cursor: ``settled`` — every
row up to it has been handled and no hidden one can appear below it — and ``scanned`` — rows up to it have
been read once. The rows between are read again until a checkpoint proves that every transaction that could
still hold a lower id has ended (the oldest running transaction id has passed the checkpoint's xmax).
Reading twice is safe because each consumer inserts with a unique key per event.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit import repository


class Cursor(Protocol):
    settled_outbox_id: int
    scanned_outbox_id: int
    checkpoint_outbox_id: int | None
    checkpoint_xmax: int | None


async def oldest_running_xid(session: AsyncSession) -> int:
    """``pg_snapshot_xmin`` now: every transaction with a lower id has ended. Read it before the caller's
    transaction takes an id of its own."""
    return await repository.snapshot_xmin(session)


async def window(session: AsyncSession, cursor: Cursor, oldest_running: int, batch: int) -> tuple[int, int]:
    """Settle a checkpoint that is proven, then the ids to read now: ``(settled, scanned]``."""
    if (
        cursor.checkpoint_outbox_id is not None
        and cursor.checkpoint_xmax is not None
        and oldest_running >= cursor.checkpoint_xmax
    ):
        cursor.settled_outbox_id = max(cursor.settled_outbox_id, cursor.checkpoint_outbox_id)
        cursor.checkpoint_outbox_id = cursor.checkpoint_xmax = None
    high = await repository.last_id_of_next(session, cursor.scanned_outbox_id, batch)
    return cursor.settled_outbox_id, max(cursor.scanned_outbox_id, high)


async def advance(session: AsyncSession, cursor: Cursor, scanned: int) -> bool:
    """Record what was read (and a checkpoint for it); True when new rows were read."""
    if cursor.checkpoint_outbox_id is None and scanned > cursor.settled_outbox_id:
        cursor.checkpoint_outbox_id = scanned
        cursor.checkpoint_xmax = await repository.snapshot_xmax(session)
    read = scanned > cursor.scanned_outbox_id
    cursor.scanned_outbox_id = scanned
    return read

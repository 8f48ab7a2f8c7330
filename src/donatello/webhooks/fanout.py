"""The fan-out: turns committed audit outbox rows into webhook deliveries, one per (webhook, event).

Why a cursor with a settle point, not a bare ``id > last`` cursor: outbox ids are taken at insert but
transactions commit out of order, so a lower id can become visible after higher ones were read; a bare
cursor would skip it forever. The audit relay solves this by re-reading undelivered rows, but it owns the
outbox's only mutable column; the fan-out must not touch the outbox, so it keeps its own position:

* ``scanned`` — the highest id read so far. Each pass reads the next batch of ids after it.
* ``settled`` — every id at or below it is final. Each pass **re-reads** the window (settled, scanned]
  for rows that became visible late; the unique key (webhook, event, type) plus a NOT EXISTS make
  re-reading idempotent.
* a checkpoint (id, ``pg_snapshot_xmax``) taken after a read: every transaction that could still commit an
  id at or below that id was running then, so once ``pg_snapshot_xmin`` of a later pass reaches the
  checkpoint's xmax (all of them ended), the id becomes ``settled`` and the window shrinks.

This is exact, not a time guess: a transaction that stays open for an hour delays settling (the window is
re-read meanwhile) but its row is still fanned out when it commits. The one theoretical gap is a row whose
identity value was drawn but whose transaction had no transaction id yet when the checkpoint's xmax was
read — within one INSERT statement, while the pass had already finished reading; the checkpoint is read
after the scan to keep that window to a few microseconds. One fan-out runs at a time (advisory lock).

Who receives what: a webhook gets events of its organization created after it was registered, of the
types it subscribed to; an owner holding ``webhooks:manage`` gets every such event of the organization,
any other owner only events they caused (``user_id``) — the same visibility the API gives them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.audit import cursor
from donatello.core.database import transaction
from donatello.tenancy import GRANTS, Permission
from donatello.webhooks import catalogue, repository

log = logging.getLogger(__name__)

ORG_WIDE_ROLES = frozenset(
    role.value for role, grants in GRANTS.items() if Permission.WEBHOOKS_MANAGE in grants
)


@dataclass(frozen=True)
class Progress:
    added: int  # deliveries queued
    read: bool  # new outbox rows were read (more may follow at once)


async def pass_once(sessions: async_sessionmaker[AsyncSession], batch_size: int = 500) -> Progress:
    """Fan out the next batch (and re-read the unsettled window)."""
    async with transaction(sessions, platform=True) as session:
        return await fan_out(session, batch_size)


async def fan_out(session: AsyncSession, batch_size: int) -> Progress:
    oldest_running = await cursor.oldest_running_xid(session)
    if not await repository.try_lock_fanout(session):
        return Progress(0, read=False)
    state = await repository.fanout_state(session)
    settled, scanned = await cursor.window(session, state, oldest_running, batch_size)
    added = 0
    if scanned > settled:
        found = await repository.candidates(session, settled, scanned, sorted(catalogue.SOURCES))
        added = await repository.insert_deliveries(session, [row for c in found for row in _deliveries(c)])
    read = await cursor.advance(session, state, scanned)
    await session.flush()
    if added:
        log.info("webhook deliveries queued", extra={"deliveries": added})
    return Progress(added, read)


def _deliveries(candidate: repository.Candidate) -> list[dict[str, Any]]:
    if candidate.owner_role not in ORG_WIDE_ROLES and candidate.actor_id != candidate.owner_id:
        return []
    metadata = candidate.payload.get("metadata") or {}
    return [
        {
            "organization_id": candidate.organization_id,
            "webhook_id": candidate.webhook_id,
            "event_id": candidate.event_id,
            "event_type": event_type,
            "outbox_id": candidate.outbox_id,
            "body": catalogue.body(event_type, candidate.payload),
        }
        for event_type in catalogue.derived(candidate.audit_event_type, metadata)
        if event_type in candidate.subscribed
    ]

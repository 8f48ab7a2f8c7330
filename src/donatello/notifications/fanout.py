"""The notification fan-out: turns committed audit outbox rows into notifications, one per (person,
event, kind), and marks the ones their recipient wants by e-mail as pending mail.

It keeps its own position in the outbox with the same settle-point cursor as the webhook fan-out (see
``donatello.webhooks.fanout`` for why a bare ``id > last`` cursor would skip rows that commit late): the
window (settled, scanned] is re-read on every pass until every transaction that could still add a row
in it has ended, and the unique key (user, event, kind) makes re-reading idempotent. One pass runs at a
time (advisory lock), and a second worker's pass simply finds the lock taken: exactly once either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.audit import cursor
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.notifications import kinds, repository
from donatello.tenancy import GRANTS, Permission

log = logging.getLogger(__name__)

DECIDER_ROLES = sorted(role.value for role, grants in GRANTS.items() if Permission.BUDGETS_MANAGE in grants)
MANAGER_ROLES = ["dept_manager"]


@dataclass(frozen=True)
class Progress:
    added: int  # notifications created
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
        now = utcnow()
        found = await repository.sources(session, settled, scanned, sorted(kinds.SOURCES))
        rows = [row for source in found for row in await _notifications(session, source, now)]
        added = await repository.insert_notifications(session, rows)
    read = await cursor.advance(session, state, scanned)
    await session.flush()
    if added:
        log.info("notifications created", extra={"notifications": added})
    return Progress(added, read)


async def _notifications(
    session: AsyncSession, source: repository.Source, now: datetime
) -> list[dict[str, Any]]:
    meta = source.payload.get("metadata") or {}
    name = await repository.department_name(session, meta.get("department_id"))
    message = kinds.message(source.payload, name)
    if message is None:
        return []
    people = await _audience(session, source, message.audience)
    rows = []
    for person in people:
        if message.audience.except_user and str(person.user_id) == message.audience.except_user:
            continue
        emailed = wants_email(person.email_choices, message.kind)
        rows.append(
            {
                "organization_id": source.organization_id,
                "user_id": person.user_id,
                "event_id": source.event_id,
                "kind": message.kind,
                "title": message.title[:200],
                "body": message.body,
                "link": message.link,
                "email_status": "pending" if emailed else "none",
                "email_next_attempt_at": now if emailed else None,
            }
        )
    return rows


async def _audience(
    session: AsyncSession, source: repository.Source, audience: kinds.Audience
) -> list[repository.Recipient]:
    organization = source.organization_id
    if audience.deciders:
        return await repository.recipients(session, organization, roles=DECIDER_ROLES)
    if audience.managers_of:
        return await repository.recipients(
            session, organization, roles=MANAGER_ROLES, department_id=audience.managers_of
        )
    if audience.user_id and audience.user_id != "system":
        return await repository.recipients(session, organization, user_id=audience.user_id)
    return []


def wants_email(choices: dict[str, Any], kind: str) -> bool:
    """A person's e-mail choice for a kind, or the kind's default when they never chose."""
    chosen = choices.get(kind)
    return chosen if isinstance(chosen, bool) else kinds.KINDS[kind][1]

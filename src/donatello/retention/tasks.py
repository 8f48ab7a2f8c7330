"""Retention (the documented schedule), run daily by the worker's ``retention`` job or by hand.

* sign-in sessions are deleted ``retention_session_days`` (30) after they expired;
* finished generations older than ``retention_archive_days`` (90) are archived: soft-deleted (the seed's
  ``is_deleted``/``deleted_at``) and their images and thumbnails moved to the Cool tier;
* after ``retention_cold_days`` (365) their blobs move to the Archive tier;
* ``retention_delete_days`` (7 years) after deletion a generation, its blobs and its cost events
  (finance records, kept 7 years) are deleted — only when none of its cost events is younger;
* empty batch requests older than that go too. Rate-limit counters expire in Redis by themselves; audit
  events are never deleted here (the Cosmos container's TTL is the 7-year clock).

Every step works in batches of ``retention_batch_size`` rows, each its own short transaction; blob calls
happen between transactions (no row lock is held across a remote call) and the rows are re-checked when
the change is written. Each step is idempotent: a second run finds nothing to do. A run records one
platform audit event with its counts; a dry run counts and changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

from donatello import audit
from donatello.config import Settings
from donatello.core import metrics
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.core.jobs import JobContext
from donatello.retention import repository
from donatello.retention.repository import Candidate
from donatello.storage import ImageStore, StoredImageMissing, Tier

log = logging.getLogger(__name__)

LOCK_KEY = "donatello:retention"


@dataclass
class RetentionReport:
    sessions_deleted: int = 0
    generations_archived: int = 0
    blobs_to_cool: int = 0
    generations_to_archive_tier: int = 0
    blobs_to_archive: int = 0
    generations_deleted: int = 0
    blobs_deleted: int = 0
    batches_deleted: int = 0
    webhook_deliveries_deleted: int = 0
    failures: int = 0  # blobs that could not be changed; their rows wait for the next run
    dry_run: bool = False

    def counts(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> int:
        return sum(value for key, value in self.counts().items() if key not in {"failures", "dry_run"})


@dataclass(frozen=True)
class Cutoffs:
    sessions: datetime
    archive: datetime
    cold: datetime
    delete: datetime
    deliveries: datetime

    @classmethod
    def at(cls, now: datetime, settings: Settings) -> Cutoffs:
        return cls(
            sessions=now - timedelta(days=settings.retention_session_days),
            archive=now - timedelta(days=settings.retention_archive_days),
            cold=now - timedelta(days=settings.retention_cold_days),
            delete=now - timedelta(days=settings.retention_delete_days),
            deliveries=now - timedelta(days=settings.retention_webhook_delivery_days),
        )


async def run(
    sessions: async_sessionmaker[AsyncSession],
    store: ImageStore,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """One retention pass as of ``now``; returns what it did (or, dry, what it would do)."""
    now = now or utcnow()
    cut = Cutoffs.at(now, settings)
    if dry_run:
        return await _count(sessions, cut)
    report = RetentionReport()
    batch = settings.retention_batch_size

    while True:
        async with transaction(sessions, platform=True) as session:
            deleted = await repository.delete_expired_sessions(session, cut.sessions, batch)
        report.sessions_deleted += deleted
        if deleted < batch:
            break

    archived, blobs = await _each_batch(
        sessions,
        store,
        repository.to_archive(cut.archive),
        batch,
        _tiering(store, "Cool"),
        report,
        lambda session, ids, condition: repository.mark_archived(session, ids, condition, "Cool", now),
    )
    report.generations_archived, report.blobs_to_cool = archived, blobs

    archived, blobs = await _each_batch(
        sessions,
        store,
        repository.to_cold(cut.cold),
        batch,
        _tiering(store, "Archive"),
        report,
        lambda session, ids, condition: repository.mark_archived(session, ids, condition, "Archive", now),
    )
    report.generations_to_archive_tier, report.blobs_to_archive = archived, blobs

    async def purge(session: AsyncSession, ids: list[Any], condition: ColumnElement[bool]) -> int:
        await repository.allow_retention_deletes(session)
        return await repository.delete_generations(session, ids, condition)

    deleted, blobs = await _each_batch(
        sessions, store, repository.to_purge(cut.delete), batch, store.delete, report, purge
    )
    report.generations_deleted, report.blobs_deleted = deleted, blobs

    while True:
        async with transaction(sessions, platform=True) as session:
            gone = await repository.delete_empty_batches(session, cut.delete, batch)
        report.batches_deleted += gone
        if gone < batch:
            break

    while True:
        async with transaction(sessions, platform=True) as session:
            gone = await repository.delete_finished_deliveries(session, cut.deliveries, batch)
        report.webhook_deliveries_deleted += gone
        if gone < batch:
            break

    async with transaction(sessions, platform=True) as session:
        await audit.record_event(
            session,
            repository.RUN_EVENT,
            action="retention_cleanup",
            resource=("retention", None),
            organization_id=None,
            status="success" if not report.failures else "partial",
            details={**report.counts(), "as_of": now.isoformat()},
        )
    for action, count in report.counts().items():
        if action != "dry_run":
            metrics.retention_changed(action, int(count))
    log.info("retention run finished", extra=report.counts())
    return report


def _tiering(store: ImageStore, tier: Tier) -> Callable[[str], Awaitable[None]]:
    async def move(name: str) -> None:
        # a blob already removed (e.g. a cancelled generation's images) has nothing left to tier
        with contextlib.suppress(StoredImageMissing):
            await store.set_tier(name, tier)

    return move


Write = Callable[[AsyncSession, list[Any], "ColumnElement[bool]"], Awaitable[int]]


async def _each_batch(
    sessions: async_sessionmaker[AsyncSession],
    store: ImageStore,
    condition: ColumnElement[bool],
    limit: int,
    blob_action: Callable[[str], Awaitable[None]],
    report: RetentionReport,
    write: Write,
) -> tuple[int, int]:
    """Pick a batch (short transaction), act on its blobs (no transaction), write the rows whose blobs
    all succeeded and that still qualify (second short transaction). Returns (rows, blobs)."""
    rows = blobs = 0
    after: repository.Cursor = None
    while True:
        async with transaction(sessions, platform=True) as session:
            batch = await repository.next_generations(session, condition, after, limit)
        if not batch:
            return rows, blobs
        after = (batch[-1].created_at, batch[-1].id)
        done: list[Candidate] = []
        for candidate in batch:
            try:
                for name in candidate.blobs:
                    await blob_action(name)
            except Exception:
                report.failures += 1
                log.warning("retention could not change a blob; retrying next run", exc_info=True)
                continue
            done.append(candidate)
        async with transaction(sessions, platform=True) as session:
            written = await write(session, [candidate.id for candidate in done], condition)
        rows += written
        blobs += sum(len(candidate.blobs) for candidate in done)
        if len(batch) < limit:
            return rows, blobs


async def _count(sessions: async_sessionmaker[AsyncSession], cut: Cutoffs) -> RetentionReport:
    report = RetentionReport(dry_run=True)
    async with transaction(sessions, platform=True) as session:
        report.sessions_deleted = await repository.count_expired_sessions(session, cut.sessions)
        report.generations_archived, report.blobs_to_cool = await repository.count_generations(
            session, repository.to_archive(cut.archive)
        )
        report.generations_to_archive_tier, report.blobs_to_archive = await repository.count_generations(
            session, repository.to_cold(cut.cold)
        )
        report.generations_deleted, report.blobs_deleted = await repository.count_generations(
            session, repository.to_purge(cut.delete)
        )
        report.batches_deleted = await repository.count_empty_batches(session, cut.delete)
        report.webhook_deliveries_deleted = await repository.count_finished_deliveries(
            session, cut.deliveries
        )
    return report


async def run_exclusive(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    store: ImageStore,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    only_if_due: bool = False,
) -> RetentionReport | None:
    """``run`` while holding the cluster-wide retention lock (``pg_try_advisory_lock`` on a connection of
    its own, held without an open transaction). None when another runner holds it, or — with
    ``only_if_due`` — when the last run finished less than ``retention_interval_hours`` ago."""
    async with engine.connect() as connection:
        locked = await connection.scalar(repository.advisory_lock(LOCK_KEY))
        await connection.commit()
        if not locked:
            return None
        try:
            if only_if_due:
                async with transaction(sessions, platform=True) as session:
                    last = await repository.last_run_at(session)
                interval = timedelta(hours=settings.retention_interval_hours)
                if last is not None and last > (now or utcnow()) - interval:
                    return None
            return await run(sessions, store, settings, now=now, dry_run=dry_run)
        finally:
            await connection.execute(repository.advisory_unlock(LOCK_KEY))
            await connection.commit()


CHECK_EVERY_SECONDS = 600.0


async def job(context: JobContext, store: ImageStore) -> None:
    """The worker job: every few minutes, if a day has passed since the last run and no other worker is
    running it, run retention."""
    settings = context.settings
    engine = context.sessions.kw["bind"]

    async def when_due() -> bool:
        await run_exclusive(engine, context.sessions, store, settings, only_if_due=True)
        return False  # checked again after the pause, whatever it did

    await context.repeat(when_due, idle=CHECK_EVERY_SECONDS, what="retention run")

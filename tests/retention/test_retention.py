"""Retention on data with known ages, against real PostgreSQL and Blob Storage (Azurite): exactly the
rows and blobs the documented schedule names are archived, tiered and deleted — and a second run changes
nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import create_sessionmaker
from donatello.models import (
    AuditOutbox,
    CostEvent,
    Generation,
    GenerationBatch,
    User,
    UserSession,
    Webhook,
    WebhookDelivery,
)
from donatello.retention import RetentionReport, run, run_exclusive
from donatello.retention.repository import advisory_lock, advisory_unlock
from donatello.retention.tasks import LOCK_KEY
from donatello.storage.blob import BlobImageStore
from tests.support import factories
from tests.support.factories import unique
from tests.support.savepoints import sessions_in

DAY = timedelta(days=1)
YEAR = timedelta(days=365)


@pytest.fixture
async def blob(
    azurite_connection_string: str,
) -> AsyncIterator[tuple[BlobImageStore, BlobServiceClient, str]]:
    container = unique("retention")
    store = BlobImageStore.from_connection_string(azurite_connection_string, container)
    await store.ensure_container()
    service = BlobServiceClient.from_connection_string(azurite_connection_string, api_version="2025-11-05")
    try:
        yield store, service, container
    finally:
        await service.close()
        await store.close()


@dataclass
class Aged:
    """The tenant's data, by name, each with a known age relative to ``now``."""

    now: datetime
    generations: dict[str, uuid.UUID]
    blobs: dict[str, list[str]]
    sessions: dict[str, uuid.UUID]
    batches: dict[str, uuid.UUID]


async def _generation(
    db: AsyncSession,
    store: BlobImageStore,
    member: User,
    *,
    age: timedelta,
    now: datetime,
    status: str = "completed",
    deleted_ago: timedelta | None = None,
    tier: str | None = None,
    images: int = 1,
    batch: GenerationBatch | None = None,
) -> tuple[Generation, list[str]]:
    gid = uuid.uuid4()
    names: list[str] = []
    for index in range(images):
        image, thumbnail = f"images/retention/{gid}-{index}.png", f"images/retention/{gid}-{index}_thumb.jpg"
        await store.put(image, b"\x89PNG fake", "image/png")
        await store.put(thumbnail, b"jpeg", "image/jpeg")
        names += [image, thumbnail]
        if tier and tier != "Hot":
            for name in (image, thumbnail):
                await store.set_tier(name, "Cool" if tier == "Cool" else "Archive")
    created = now - age
    details: dict[str, object] = {"images": names[0::2], "thumbnails": names[1::2]}
    if tier:
        details["storage_tier"] = tier
    generation = Generation(
        id=gid,
        organization_id=member.organization_id,
        user_id=member.id,
        department_id=member.department_id,
        model_provider="local",
        model_name="pillow",
        prompt_encrypted="sealed.v1.test",
        status=status,
        created_at=created,
        completed_at=created if status == "completed" else None,
        image_url=f"https://example.invalid/{gid}" if status == "completed" else None,
        is_deleted=deleted_ago is not None,
        deleted_at=now - deleted_ago if deleted_ago is not None else None,
        details=details,
        batch_id=batch.id if batch else None,
    )
    db.add(generation)
    await db.flush()
    return generation, names


async def _charge(db: AsyncSession, generation: Generation, member: User, *, created: datetime) -> None:
    db.add(
        CostEvent(
            organization_id=generation.organization_id,
            generation_id=generation.id,
            department_id=generation.department_id,
            user_id=member.id,
            model_provider="local",
            model_name="pillow",
            estimated_cost_aud=Decimal("0.05"),
            actual_cost_aud=Decimal("0.05"),
            department_code="X",
            department_name="X",
            user_email=member.email,
            created_at=created,
        )
    )
    await db.flush()


async def _batch(db: AsyncSession, member: User, *, created: datetime) -> GenerationBatch:
    batch = GenerationBatch(
        organization_id=member.organization_id,
        user_id=member.id,
        department_id=member.department_id,
        request_fingerprint="0" * 64,
        total=1,
        created_at=created,
    )
    db.add(batch)
    await db.flush()
    return batch


async def _session(db: AsyncSession, member: User, *, expired_ago: timedelta, now: datetime) -> uuid.UUID:
    row = UserSession(
        organization_id=member.organization_id,
        user_id=member.id,
        family_id=uuid.uuid4(),
        refresh_token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
        created_at=now - expired_ago - 14 * DAY,
        expires_at=now - expired_ago,
    )
    db.add(row)
    await db.flush()
    return row.id


@pytest.fixture
async def aged(db: AsyncSession, blob: tuple[BlobImageStore, BlobServiceClient, str]) -> Aged:
    store = blob[0]
    now = utcnow()
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    member = await factories.user(db, org, department=dept)
    generations: dict[str, uuid.UUID] = {}
    blobs: dict[str, list[str]] = {}

    async def add(name: str, **kwargs: Any) -> Generation:
        generation, names = await _generation(db, store, member, now=now, **kwargs)
        generations[name], blobs[name] = generation.id, names
        return generation

    await add("fresh", age=10 * DAY)
    await add("just_under_90_days", age=89 * DAY)
    await add("old", age=100 * DAY)
    await add("old_failed", age=100 * DAY, status="failed", images=0)
    await add("old_in_flight", age=100 * DAY, status="processing", images=0)
    await add("user_deleted", age=100 * DAY, deleted_ago=50 * DAY)
    await add("already_cool", age=200 * DAY, deleted_ago=110 * DAY, tier="Cool")
    await add("over_a_year", age=400 * DAY)
    await add("cool_over_a_year", age=500 * DAY, deleted_ago=410 * DAY, tier="Cool")
    old_batch = await _batch(db, member, created=now - 8 * YEAR)
    ancient = await add(
        "ancient", age=8 * YEAR + 100 * DAY, deleted_ago=8 * YEAR, tier="Archive", batch=old_batch
    )
    await _charge(db, ancient, member, created=now - 8 * YEAR - 100 * DAY)
    refunded = await add("ancient_with_recent_cost", age=8 * YEAR, deleted_ago=8 * YEAR, tier="Archive")
    await _charge(db, refunded, member, created=now - YEAR)
    await add("deleted_six_years_ago", age=6 * YEAR + 100 * DAY, deleted_ago=6 * YEAR, tier="Archive")
    batches = {
        "old_empty": (await _batch(db, member, created=now - 8 * YEAR)).id,
        "old_with_ancient": old_batch.id,
        "young_empty": (await _batch(db, member, created=now - 10 * DAY)).id,
    }
    hook = Webhook(
        organization_id=org.id,
        user_id=member.id,
        webhook_url="https://hooks.example.com/x",
        secret_hash="sealed",
        event_types=["generation.completed"],
    )
    db.add(hook)
    await db.flush()
    for status, age in (
        ("delivered", 40 * DAY),
        ("failed", 40 * DAY),
        ("pending", 40 * DAY),
        ("delivered", 5 * DAY),
    ):
        db.add(
            WebhookDelivery(
                organization_id=org.id,
                webhook_id=hook.id,
                event_id=uuid.uuid4(),
                event_type="generation.completed",
                body="{}",
                status=status,
                created_at=now - age,
            )
        )
    await db.flush()
    sessions = {
        "expired_31_days_ago": await _session(db, member, expired_ago=31 * DAY, now=now),
        "expired_29_days_ago": await _session(db, member, expired_ago=29 * DAY, now=now),
        "live": await _session(db, member, expired_ago=-7 * DAY, now=now),
    }
    return Aged(now, generations, blobs, sessions, batches)


def _expected(dry_run: bool) -> RetentionReport:
    # archived: old, old_failed, user_deleted, over_a_year (old_in_flight is not finished);
    # to the Archive tier: over_a_year (after its Cool step), cool_over_a_year, and — in a dry run,
    # which counts before anything moves — over_a_year is not yet deleted, so it is not counted there.
    return RetentionReport(
        sessions_deleted=1,
        generations_archived=4,
        blobs_to_cool=2 + 0 + 2 + 2,
        generations_to_archive_tier=1 if dry_run else 2,
        blobs_to_archive=2 if dry_run else 4,
        generations_deleted=1,
        blobs_deleted=2,
        batches_deleted=1 if dry_run else 2,  # the ancient generation's batch empties during the run
        webhook_deliveries_deleted=2,  # delivered and given up 40 days ago; never a pending one
        dry_run=dry_run,
    )


async def _state(
    db: AsyncSession, aged: Aged, service: BlobServiceClient, container: str
) -> dict[str, object]:
    rows = {
        row.id: row
        for row in (
            await db.execute(
                select(Generation.id, Generation.is_deleted, Generation.deleted_at, Generation.details).where(
                    Generation.id.in_(aged.generations.values())
                )
            )
        ).all()
    }
    state: dict[str, object] = {}
    for name, gid in aged.generations.items():
        row = rows.get(gid)
        tiers = []
        for blob_name in aged.blobs[name]:
            try:
                props = await service.get_blob_client(container, blob_name).get_blob_properties()
                tiers.append(str(props.blob_tier))
            except ResourceNotFoundError:
                tiers.append("gone")
        state[name] = (
            None if row is None else (row.is_deleted, row.deleted_at, row.details.get("storage_tier")),
            tiers,
        )
    sessions = set(
        (await db.scalars(select(UserSession.id).where(UserSession.id.in_(aged.sessions.values())))).all()
    )
    state["sessions"] = sorted(name for name, sid in aged.sessions.items() if sid in sessions)
    batches = set(
        (
            await db.scalars(select(GenerationBatch.id).where(GenerationBatch.id.in_(aged.batches.values())))
        ).all()
    )
    state["batches"] = sorted(name for name, bid in aged.batches.items() if bid in batches)
    return state


def _sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Retention's transactions as savepoints of the test's transaction."""
    return sessions_in(connection)


async def test_the_schedule_archives_tiers_and_deletes_exactly_what_is_due_and_only_once(
    db: AsyncSession,
    settings: Settings,
    aged: Aged,
    blob: tuple[BlobImageStore, BlobServiceClient, str],
) -> None:
    store, service, container = blob
    sessions = _sessions(await db.connection())
    before = await _state(db, aged, service, container)

    dry = await run(sessions, store, settings, now=aged.now, dry_run=True)
    assert dry == _expected(dry_run=True)
    assert await _state(db, aged, service, container) == before  # a dry run changes nothing

    first = await run(sessions, store, settings, now=aged.now)
    assert first == _expected(dry_run=False)
    after = await _state(db, aged, service, container)
    now = aged.now
    assert after["fresh"] == before["fresh"] == ((False, None, None), ["Hot", "Hot"])
    assert after["just_under_90_days"] == before["just_under_90_days"]
    assert after["old_in_flight"] == before["old_in_flight"]
    assert after["old"] == ((True, now, "Cool"), ["Cool", "Cool"])
    assert after["old_failed"] == ((True, now, "Cool"), [])
    assert after["user_deleted"] == ((True, now - 50 * DAY, "Cool"), ["Cool", "Cool"])
    assert after["already_cool"] == before["already_cool"]
    assert after["over_a_year"] == ((True, now, "Archive"), ["Archive", "Archive"])
    assert after["cool_over_a_year"] == ((True, now - 410 * DAY, "Archive"), ["Archive", "Archive"])
    assert after["ancient"] == (None, ["gone", "gone"])
    assert after["ancient_with_recent_cost"] == before["ancient_with_recent_cost"]
    assert after["deleted_six_years_ago"] == before["deleted_six_years_ago"]
    assert after["sessions"] == ["expired_29_days_ago", "live"]
    assert after["batches"] == ["young_empty"]
    # the ancient generation's cost event went with it; the one with a recent cost event keeps it
    costs = await db.scalars(
        select(CostEvent.generation_id).where(
            CostEvent.generation_id.in_(
                [aged.generations["ancient"], aged.generations["ancient_with_recent_cost"]]
            )
        )
    )
    assert list(costs) == [aged.generations["ancient_with_recent_cost"]]

    [event] = (
        await db.scalars(
            select(AuditOutbox.payload)
            .where(AuditOutbox.event_type == "retention.run", AuditOutbox.organization_id.is_(None))
            .order_by(AuditOutbox.id.desc())
            .limit(1)
        )
    ).all()
    assert event["metadata"]["generations_deleted"] == 1 and event["metadata"]["sessions_deleted"] == 1
    assert event["user_id"] == "system" and event["organization_id"] is None

    second = await run(sessions, store, settings, now=aged.now)
    assert second == RetentionReport()
    assert await _state(db, aged, service, container) == after


async def test_small_batches_reach_the_same_result(
    db: AsyncSession,
    settings: Settings,
    aged: Aged,
    blob: tuple[BlobImageStore, BlobServiceClient, str],
) -> None:
    store, _, _ = blob
    sessions = _sessions(await db.connection())
    tiny = settings.model_copy(update={"retention_batch_size": 1})
    assert await run(sessions, store, tiny, now=aged.now) == _expected(dry_run=False)
    assert await run(sessions, store, tiny, now=aged.now) == RetentionReport()


async def test_one_runner_at_a_time(
    engine: AsyncEngine, settings: Settings, blob: tuple[BlobImageStore, BlobServiceClient, str]
) -> None:
    store = blob[0]
    sessions = create_sessionmaker(engine)
    async with engine.connect() as holder:
        assert await holder.scalar(advisory_lock(LOCK_KEY))
        await holder.commit()
        assert await run_exclusive(engine, sessions, store, settings, dry_run=True) is None
        await holder.execute(advisory_unlock(LOCK_KEY))
        await holder.commit()
    report = await run_exclusive(engine, sessions, store, settings, dry_run=True)
    assert report is not None and report.dry_run


def test_the_operator_command_dry_run_prints_counts(postgres_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")}
    env["DONATELLO_DATABASE_URL"] = postgres_url
    env["DONATELLO_DATA_DIR"] = tempfile.mkdtemp(prefix="donatello-retention-", dir="/tmp")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("donatello")), "retention", "run", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("would change (dry run): sessions_deleted ")
    assert "generations_archived" in done.stdout and "blobs_deleted" in done.stdout

"""No loss, no duplicates: every committed audit event reaches Cosmos DB exactly once, whether the store
goes away while events are produced or the relay is killed mid-batch."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.audit import service
from donatello.audit.cosmos import provision
from donatello.audit.relay import run as relay_job
from donatello.config import Settings
from donatello.core.database import create_sessionmaker, transaction
from donatello.core.jobs import JobContext
from donatello.models import AuditOutbox, Organization
from tests.support import factories
from tests.support.audit_helpers import org_documents, raw_container, record_events, relay_in_test, store_for
from tests.support.cosmos_emulator import KEY, CosmosEmulator

DONATELLO = str(Path(sys.executable).with_name("donatello"))
EVENTS = 1000


async def _produce(
    engine: AsyncEngine, organizations: int, per_transaction: int = 50, users: int = 0
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """EVENTS events over ``organizations`` organizations, committed in transactions of ``per_transaction``,
    by ``users`` users in turn (0: system events, no user)."""
    sessions = create_sessionmaker(engine)
    produced: dict[uuid.UUID, list[uuid.UUID]] = {}
    async with transaction(sessions, platform=True) as session:
        orgs = [
            Organization(name=f"Org {uuid.uuid4().hex[:8]}", domain=f"o-{uuid.uuid4().hex[:8]}.com.au")
            for _ in range(organizations)
        ]
        session.add_all(orgs)
    for org in orgs:
        produced[org.id] = []
    for batch in range(EVENTS // per_transaction):
        org = orgs[batch % organizations]
        async with transaction(sessions, platform=True) as session:
            if not users:
                produced[org.id] += await record_events(session, org.id, per_transaction)
            for n in range(per_transaction if users else 0):
                user = uuid.UUID(int=(batch * per_transaction + n) % users + 1)
                produced[org.id] += await record_events(session, org.id, 1, user_id=user)
    return produced


async def _undelivered(engine: AsyncEngine, organization_ids: list[uuid.UUID]) -> int:
    async with transaction(create_sessionmaker(engine), platform=True) as session:
        return int(
            await session.scalar(
                select(func.count()).where(
                    AuditOutbox.organization_id.in_(organization_ids), AuditOutbox.delivered_at.is_(None)
                )
            )
            or 0
        )


async def _sealed(engine: AsyncEngine, organization_id: uuid.UUID) -> int:
    async with transaction(create_sessionmaker(engine), platform=True) as session:
        count = await session.scalar(
            select(func.count()).where(
                AuditOutbox.organization_id == organization_id, AuditOutbox.chain_seq.is_not(None)
            )
        )
        return int(count or 0)


async def _wait_until(condition: Any, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.1)


async def _assert_exactly_once(
    engine: AsyncEngine, settings: Settings, produced: dict[uuid.UUID, list[uuid.UUID]]
) -> None:
    async with raw_container(settings) as container:
        for org, ids in produced.items():
            docs = await org_documents(container, org)
            stored = [d["id"] for d in docs]
            assert len(stored) == len(set(stored)), "a document was stored twice"
            assert sorted(stored) == sorted(str(i) for i in ids), "an event is missing"
            assert sorted(d["chain_seq"] for d in docs) == list(range(1, len(ids) + 1))
    async with transaction(create_sessionmaker(engine), platform=True) as session:
        from tests.support.audit_helpers import store_for

        async with store_for(settings) as store:
            for org in produced:
                result = await service.verify(session, store, org)
                assert result.ok, result.broken
                assert result.checked == len(produced[org])


async def test_events_produced_while_cosmos_is_down_all_arrive_exactly_once(
    engine: AsyncEngine, cosmos: CosmosEmulator, cosmos_settings: Settings
) -> None:
    settings = cosmos_settings.model_copy(
        update={"audit_relay_poll_seconds": 0.05, "audit_relay_retry_seconds": 0.5}
    )
    context = JobContext(settings, create_sessionmaker(engine))
    relay = asyncio.create_task(relay_job(context))
    cosmos.stop()
    try:
        produced = await _produce(engine, organizations=4)
        await asyncio.sleep(1)  # the relay meets a store that is down, and backs off
        assert await _undelivered(engine, list(produced)) == EVENTS

        cosmos.start()  # same port; the emulator keeps nothing in memory, so provision again
        await provision(settings)
        await _wait_until(lambda: _is_zero(_undelivered(engine, list(produced))), "every event delivered")
    finally:
        if cosmos.process is None:
            cosmos.start()
            await provision(settings)
        context.stopping.set()
        await relay

    await _assert_exactly_once(engine, settings, produced)


async def _is_zero(count: Any) -> bool:
    return await count == 0


async def test_a_relay_killed_mid_batch_loses_and_duplicates_nothing(
    engine: AsyncEngine, cosmos_settings: Settings, postgres_url: str, workdir: Path
) -> None:
    """One batch of the whole chain, written concurrently (transactional batches of a user's events),
    killed with hundreds of documents in flight: the restart re-ships the sealed batch exactly."""
    produced = await _produce(engine, organizations=1, users=300)
    (org,) = produced
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")}
    env.update(
        DONATELLO_DATA_DIR=str(workdir / "worker"),
        DONATELLO_DATABASE_URL=postgres_url,
        DONATELLO_COSMOS_ENDPOINT=cosmos_settings.cosmos_endpoint or "",
        DONATELLO_COSMOS_KEY=KEY,
        DONATELLO_AUDIT_RELAY_BATCH_SIZE=str(EVENTS),
        DONATELLO_AUDIT_RELAY_WRITE_CONCURRENCY="3",  # slow enough to be caught mid-batch
        DONATELLO_AUDIT_RELAY_HORIZON_SECONDS="0",
        DONATELLO_AUDIT_RELAY_POLL_SECONDS="0.05",
    )
    init = await asyncio.to_thread(
        subprocess.run, [DONATELLO, "audit", "init"], env=env, capture_output=True, check=False
    )
    assert init.returncode == 0

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [DONATELLO, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def stored() -> int:
        async with raw_container(cosmos_settings) as container:
            return len(await org_documents(container, org))

    worker = start_worker()
    try:
        await _wait_until(lambda: _at_least(stored(), 100), "the relay is half-way through its batch")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        in_cosmos = await stored()
        assert 0 < in_cosmos < EVENTS
        assert await _undelivered(engine, [org]) == EVENTS  # the batch's delivery marks never committed
        assert await _sealed(engine, org) == EVENTS  # ...but its chain did, before anything was shipped

        worker = start_worker()
        await _wait_until(lambda: _is_zero(_undelivered(engine, [org])), "every event delivered")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    await _assert_exactly_once(engine, cosmos_settings, produced)
    verify = await asyncio.to_thread(
        subprocess.run,
        [DONATELLO, "audit", "verify", "--org", str(org)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"ok: {EVENTS} events verified" in verify.stdout


async def _at_least(count: Any, minimum: int) -> bool:
    return await count >= minimum


class _Flaky:
    """The container, except that every third create (single or batch) fails as if the relay died there.

    It fails only once every write started before it and at least one started after it have landed, so
    what an interrupted relay leaves stored has holes on a machine of any speed (a timer would race the
    other writes)."""

    def __init__(self, target: Any) -> None:
        self._target, self._calls = target, 0
        self._landed: set[int] = set()
        self._progress = asyncio.Condition()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name not in {"create_item", "execute_item_batch"}:
            return attribute

        async def maybe(*args: Any, **kwargs: Any) -> Any:
            self._calls += 1
            number = self._calls
            if number % 3 == 0:
                earlier = {n for n in range(1, number) if n % 3}
                async with self._progress:
                    await self._progress.wait_for(
                        lambda: earlier <= self._landed and max(self._landed) > number
                    )
                raise RuntimeError("the relay died mid-batch")
            written = await attribute(*args, **kwargs)
            async with self._progress:
                self._landed.add(number)
                self._progress.notify_all()
            return written

        return maybe


async def test_a_batch_stored_with_holes_is_completed_exactly_once_by_the_next_relay(
    db: AsyncSession, cosmos_settings: Settings
) -> None:
    """Documents are written concurrently, so an interrupted batch leaves an arbitrary subset stored (not
    a prefix of the chain); the next relay ships exactly the sealed batch, the stored ones matching."""
    org = await factories.organization(db)
    ids: list[uuid.UUID] = []
    for n in range(60):  # 20 users' events: transactional batches, and single creates for the rest
        ids += await record_events(db, org.id, 1, user_id=uuid.UUID(int=n % 20 + 1) if n < 40 else None)
        ids += await record_events(db, org.id, 1, user_id=uuid.uuid4())
    async with store_for(cosmos_settings, wrap=_Flaky) as flaky:
        with pytest.raises(RuntimeError, match="died mid-batch"):
            await (await relay_in_test(db, flaky)).deliver_chain(org.id)
    async with raw_container(cosmos_settings) as container:
        stored = sorted(int(d["chain_seq"]) for d in await org_documents(container, org.id))
    assert 0 < len(stored) < len(ids) and stored != list(range(1, len(stored) + 1)), "holes, not a prefix"

    async with store_for(cosmos_settings) as store:
        assert await (await relay_in_test(db, store)).drain() == len(ids)
        async with raw_container(cosmos_settings) as container:
            documents = await org_documents(container, org.id)
        assert sorted(d["id"] for d in documents) == sorted(str(i) for i in ids)
        assert sorted(d["chain_seq"] for d in documents) == list(range(1, len(ids) + 1))
        result = await service.verify(db, store, org.id)
        assert result.ok and result.checked == len(ids), result.broken

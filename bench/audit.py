"""Audit relay throughput and outbox write overhead, each as a ratio against a baseline from the same run.

* relay: 2,000 events of one organization (one chain: computed in order, its documents written
  concurrently) from 40 users, then from a different user each (no two in one partition, so no
  transactional batch), then 2,000 events over 8 organizations, relayed to @vercel/cosmosdb-server (chain + create
  + delivery marks), against the baseline of bare sequential ``create_item`` calls of the same documents'
  size — and the emulator's own ceiling for one document per request (bare ``create_item`` calls, as many
  in flight as the relay keeps), with the emulator's CPU per document: a single-threaded Node process,
  it bounds the a-user-per-event case on this machine, not the relay;
* outbox write: a transaction that records one audit event, against a bare ``BEGIN; SELECT 1; COMMIT``.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.support.cosmos_emulator import KEY, CosmosEmulator

from bench.api_overhead import _p, _timed
from donatello import audit
from donatello.audit.cosmos import open_store, provision
from donatello.audit.relay import Relay
from donatello.config import Settings
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.core.embedded_postgres import EmbeddedPostgres
from donatello.core.migrations import upgrade

EVENTS = 2000
ORGS = 8
USERS = 40  # an organization's events come from its staff: a generation alone records 3-4 per user


def _event(org: uuid.UUID, user: uuid.UUID | None = None) -> audit.AuditEvent:
    return audit.AuditEvent(
        event_type="generation.completed",
        action="image_generated",
        resource_type="generation",
        resource_id=uuid.uuid4(),
        organization_id=org,
        user_id=user or uuid.uuid4(),
        metadata={"model_used": "dall-e-3", "cost_aud": "0.08"},
    )


async def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="donatello-bench-audit-", dir="/tmp"))
    embedded = EmbeddedPostgres(workdir / "postgres", delete_on_exit=True)
    emulator = CosmosEmulator()
    url = embedded.start()
    emulator.start()
    try:
        upgrade(url)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=workdir / "data",
            database_url=url,
            cosmos_endpoint=emulator.endpoint,
            cosmos_key=SecretStr(KEY),
        )
        await provision(settings)
        engine = create_engine(url, app_role=settings.database_app_role)
        sessions = create_sessionmaker(engine)

        async def bare_transaction() -> None:
            async with transaction(sessions) as session:
                await session.execute(text("SELECT 1"))

        async def record_one() -> None:
            async with transaction(sessions, platform=True) as session:
                await audit.record(session, _event(uuid.uuid4()))

        baseline = await _timed(bare_transaction)
        measured = await _timed(record_one)
        orgs = [uuid.uuid4() for _ in range(ORGS)]
        async with open_store(settings) as store:
            relay = Relay(
                sessions,
                store,
                batch_size=settings.audit_relay_batch_size,
                concurrency=settings.audit_relay_concurrency,
                horizon_seconds=0,
            )
            await relay.drain()  # the outbox writes timed above
            await _relay_rate(sessions, relay, orgs)  # warm-up
            assert emulator.process is not None
            node = psutil.Process(emulator.process.pid)
            rates, emulator_cpu = {}, {}
            for label, relayed_orgs, users in (
                (f"1 org, {USERS} users", orgs[:1], USERS),
                ("1 org, a user per event", orgs[:1], 0),
                (f"{ORGS} orgs, {USERS} users each", orgs, USERS),
            ):
                before = _cpu_seconds(node)
                rates[label] = await _relay_rate(sessions, relay, relayed_orgs, users)
                emulator_cpu[label] = (_cpu_seconds(node) - before) / EVENTS * 1000

            documents = [{**_event(orgs[0]).document(), "chain_seq": 1} for _ in range(500)]
            started = time.perf_counter()
            for document in documents:
                await store.create(document)
            create_seconds = (time.perf_counter() - started) / len(documents)

            in_flight = asyncio.Semaphore(settings.audit_relay_write_concurrency)

            async def create(document: dict[str, object]) -> None:
                async with in_flight:
                    await store.create(document)

            documents = [{**_event(orgs[0]).document(), "chain_seq": 1} for _ in range(1000)]
            before, started, ours = _cpu_seconds(node), time.perf_counter(), time.process_time()
            await asyncio.gather(*(create(document) for document in documents))
            ceiling_rate = len(documents) / (time.perf_counter() - started)
            client_cpu = (time.process_time() - ours) / len(documents) * 1000
            ceiling_cpu = (_cpu_seconds(node) - before) / len(documents) * 1000
        await engine.dispose()
    finally:
        emulator.stop()
        embedded.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    create_rate = 1 / create_seconds
    ratio = statistics.median(measured) / statistics.median(baseline)
    print(
        f"baseline  bare transaction      p50 {_p(baseline, 0.5):6.2f} ms  p95 {_p(baseline, 0.95):6.2f} ms"
    )
    print(
        f"measured  record one event      p50 {_p(measured, 0.5):6.2f} ms  p95 {_p(measured, 0.95):6.2f} ms"
    )
    print(f"ratio     outbox write / bare transaction = {ratio:.2f}x")
    print(f"baseline  sequential create_item to the emulator  {create_rate:8.0f} docs/s")
    print(
        f"ceiling   {settings.audit_relay_write_concurrency} concurrent create_item "
        f"{ceiling_rate:8.0f} docs/s (CPU a document: the SDK's side {client_cpu:.2f} ms, "
        f"the emulator's {ceiling_cpu:.2f} ms)"
    )
    for label, rate in rates.items():
        print(
            f"measured  relay ({label}) {rate:8.0f} events/s ({EVENTS} events, chained; "
            f"emulator CPU {emulator_cpu[label]:.2f} ms an event)"
        )
        print(f"ratio     relay ({label}) / sequential create_item = {rate / create_rate:.2f}x")
    print(
        "ratio     relay (1 org, a user per event) / concurrent create_item ceiling = "
        f"{rates['1 org, a user per event'] / ceiling_rate:.2f}x"
    )


def _cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of the emulator (and any children it started)."""
    total = process.cpu_times()
    seconds = float(total.user + total.system)
    for child in process.children(recursive=True):
        times = child.cpu_times()
        seconds += times.user + times.system
    return seconds


async def _relay_rate(
    sessions: async_sessionmaker[AsyncSession], relay: Relay, orgs: list[uuid.UUID], users: int = 0
) -> float:
    """Events/s of a drain of EVENTS events spread over ``orgs``, each organization's over ``users``
    users (0: a new user per event, so no two documents share a partition), recorded beforehand."""
    staff = {org: [uuid.uuid4() for _ in range(users)] for org in orgs}
    async with transaction(sessions, platform=True) as session:
        for n in range(EVENTS):
            org = orgs[n % len(orgs)]
            user = staff[org][n // len(orgs) % users] if users else None
            await audit.record(session, _event(org, user))
    started = time.perf_counter()
    delivered = await relay.drain()
    assert delivered == EVENTS, delivered
    return delivered / (time.perf_counter() - started)

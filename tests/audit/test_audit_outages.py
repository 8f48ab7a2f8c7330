"""The audit store throttling (429 with ``x-ms-retry-after-ms``) or briefly unavailable (503), through a
real loopback gateway in front of the Cosmos emulator: the relay waits as long as Cosmos asks, backs off
on errors, and in the end every event is stored exactly once with its chain intact."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from donatello.audit import service
from donatello.audit.relay import run as relay_job
from donatello.config import Settings
from donatello.core.database import create_sessionmaker, transaction
from donatello.core.jobs import JobContext
from donatello.models import AuditOutbox, Organization
from tests.support.audit_helpers import org_documents, raw_container, record_events, store_for
from tests.support.cosmos_emulator import CosmosEmulator
from tests.support.cosmos_throttle import CosmosGateway, Seen


@pytest.fixture
def gateway(cosmos: CosmosEmulator, tmp_path: Path) -> Iterator[CosmosGateway]:
    gateway = CosmosGateway(cosmos.endpoint, tmp_path).start()
    yield gateway
    gateway.stop()


@pytest.fixture
async def through_gateway(cosmos_settings: Settings, gateway: CosmosGateway) -> Settings:
    # One chain and one write at a time: each request after a refusal is that refusal's retry.
    return cosmos_settings.model_copy(
        update={
            "cosmos_endpoint": gateway.endpoint,
            "audit_relay_concurrency": 1,
            "audit_relay_write_concurrency": 1,
            "audit_relay_batch_size": 50,
            "audit_relay_poll_seconds": 0.05,
            "audit_relay_retry_seconds": 10.0,
        }
    )


async def _produce(
    engine: AsyncEngine, organizations: int = 2, events: int = 200
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """``events`` events over ``organizations`` organizations, by ten users (so partitions batch)."""
    sessions = create_sessionmaker(engine)
    async with transaction(sessions, platform=True) as session:
        orgs = [
            Organization(name=f"Org {uuid.uuid4().hex[:8]}", domain=f"o-{uuid.uuid4().hex[:8]}.com.au")
            for _ in range(organizations)
        ]
        session.add_all(orgs)
    produced: dict[uuid.UUID, list[uuid.UUID]] = {org.id: [] for org in orgs}
    for n in range(events // 10):
        org = orgs[n % organizations]
        async with transaction(sessions, platform=True) as session:
            for k in range(10):
                produced[org.id] += await record_events(session, org.id, 1, user_id=uuid.UUID(int=k + 1))
    return produced


async def _undelivered(engine: AsyncEngine, organizations: list[uuid.UUID]) -> int:
    async with transaction(create_sessionmaker(engine), platform=True) as session:
        count = await session.scalar(
            select(func.count()).where(
                AuditOutbox.organization_id.in_(organizations), AuditOutbox.delivered_at.is_(None)
            )
        )
        return int(count or 0)


async def _delivered_exactly_once(
    engine: AsyncEngine, settings: Settings, produced: dict[uuid.UUID, list[uuid.UUID]], seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    while await _undelivered(engine, list(produced)):
        assert time.monotonic() < deadline, "the relay did not catch up"
        await asyncio.sleep(0.1)
    async with raw_container(settings) as container:
        for org, ids in produced.items():
            stored = [d["id"] for d in await org_documents(container, org)]
            assert len(stored) == len(set(stored)), "an event was stored twice"
            assert sorted(stored) == sorted(str(i) for i in ids), "an event is missing"
    async with (
        transaction(create_sessionmaker(engine), platform=True) as session,
        store_for(settings) as store,
    ):
        for org, ids in produced.items():
            result = await service.verify(session, store, org)
            assert result.ok, result.broken
            assert result.checked == len(ids)


def _next_after(seen: list[Seen], refusal: Seen) -> Seen | None:
    return next((s for s in seen if s.at > refusal.at), None)


async def test_a_throttled_store_is_retried_no_sooner_than_cosmos_asks(
    engine: AsyncEngine,
    gateway: CosmosGateway,
    through_gateway: Settings,
    cosmos_settings: Settings,
) -> None:
    gateway.throttle(seconds=2.0, retry_after_ms=400)
    context = JobContext(through_gateway, create_sessionmaker(engine))
    task = asyncio.create_task(relay_job(context))
    try:
        produced = await _produce(engine)
        await _delivered_exactly_once(engine, cosmos_settings, produced)
    finally:
        context.stopping.set()
        await task

    throttled = gateway.answered(429)
    assert throttled, "the gateway throttled the relay"
    seen = list(gateway.seen)
    for refusal in throttled:
        retry = _next_after(seen, refusal)
        assert retry is not None
        # Each retry waits out the 400 ms Cosmos asked for (the refusal is recorded just after it is sent).
        assert retry.at - refusal.at >= 0.38, (refusal, retry)
    # At most one attempt per 400 ms during the 2 s of throttling, and then it went through.
    assert len(throttled) <= 2.0 / 0.4 + 1


async def test_a_store_answering_503_is_backed_off_then_caught_up(
    engine: AsyncEngine,
    gateway: CosmosGateway,
    through_gateway: Settings,
    cosmos_settings: Settings,
) -> None:
    produced = await _produce(engine)
    gateway.unavailable(seconds=3.0)
    context = JobContext(through_gateway, create_sessionmaker(engine))
    task = asyncio.create_task(relay_job(context))
    try:
        await _delivered_exactly_once(engine, cosmos_settings, produced)
    finally:
        context.stopping.set()
        await task

    refused = gateway.answered(503)
    assert refused, "the gateway refused the relay"
    gaps = [b.at - a.at for a, b in itertools.pairwise(refused)]
    # Exponential back-off: the pauses grow (a tight loop would have sent hundreds in 3 s).
    assert len(refused) < 20, len(refused)
    assert max(gaps) > 4 * min(gaps), gaps


async def test_after_an_outage_the_relay_catches_up_a_large_backlog_exactly_once(
    engine: AsyncEngine, gateway: CosmosGateway, cosmos_settings: Settings
) -> None:
    settings = cosmos_settings.model_copy(
        update={
            "cosmos_endpoint": gateway.endpoint,
            "audit_relay_poll_seconds": 0.05,
            "audit_relay_retry_seconds": 1.0,
        }
    )
    gateway.go_away()
    context = JobContext(settings, create_sessionmaker(engine))
    task = asyncio.create_task(relay_job(context))
    try:
        produced = await _produce(engine, organizations=4, events=3000)  # the relay fails meanwhile
        organizations = list(produced)
        backlog = await _undelivered(engine, organizations)
        gateway.start()
        back = time.monotonic()
        while await _undelivered(engine, organizations):
            assert time.monotonic() - back < 120, "the relay did not catch up"
            await asyncio.sleep(0.05)
        caught_up = time.monotonic()
    finally:
        context.stopping.set()
        await task
    resumed = gateway.seen[0].at  # the relay's first request to the store that came back
    print(  # noqa: T201 - the drill's figures, shown with -s
        f"\naudit catch-up: backlog {backlog}; the relay back at the store {resumed - back:.1f} s after it "
        f"returned; {backlog / (caught_up - resumed):.0f} events/s until caught up"
    )
    assert backlog == 3000
    assert resumed - back <= 6, "the relay looks for the store at least every 5 s"
    await _delivered_exactly_once(engine, cosmos_settings, produced)

"""Helpers for the audit tests: a relay inside the test's transaction, raw emulator access, events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.cosmos.aio import ContainerProxy, CosmosClient
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.audit.cosmos import AuditStore, RetryPolicy
from donatello.audit.relay import Relay
from donatello.config import Settings
from tests.support.savepoints import sessions_in


async def relay_in_test(db: AsyncSession, store: AuditStore | None = None) -> Relay:
    # One connection: chains one after another (concurrency 1), no visibility horizon.
    return Relay(sessions_in(await db.connection()), store, batch_size=500, concurrency=1, horizon_seconds=0)


@asynccontextmanager
async def raw_container(settings: Settings) -> AsyncIterator[ContainerProxy]:
    """The emulator's container, for the test to read and to tamper with as an attacker would."""
    assert settings.cosmos_endpoint and settings.cosmos_key
    async with CosmosClient(
        settings.cosmos_endpoint, credential=settings.cosmos_key.get_secret_value()
    ) as client:
        yield client.get_database_client(settings.cosmos_database).get_container_client(
            settings.cosmos_container
        )


@asynccontextmanager
async def store_for(settings: Settings, wrap: Any = None) -> AsyncIterator[AuditStore]:
    async with raw_container(settings) as container:
        yield AuditStore(wrap(container) if wrap else container, RetryPolicy(budget_seconds=5))


_last_stamp = datetime.now(UTC)


def _next_stamp() -> datetime:
    """Distinct, increasing millisecond timestamps, so "newest first" has one right answer in tests."""
    global _last_stamp
    _last_stamp = max(datetime.now(UTC), _last_stamp + timedelta(milliseconds=1))
    return _last_stamp


async def record_events(
    db: AsyncSession, organization_id: uuid.UUID | None, count: int, **extra: Any
) -> list[uuid.UUID]:
    ids = []
    for n in range(count):
        event = audit.AuditEvent(
            event_type=extra.get("event_type", "test.happened"),
            action="happened",
            resource_type=extra.get("resource_type", "thing"),
            resource_id=extra.get("resource_id", f"thing-{n}"),
            organization_id=organization_id,
            user_id=extra.get("user_id"),
            status=extra.get("status", "success"),
            metadata={"n": n},
            timestamp=extra.get("timestamp") or _next_stamp(),
        )
        await audit.record(db, event)
        ids.append(event.id)
    return ids


async def org_documents(container: ContainerProxy, organization_id: uuid.UUID) -> list[dict[str, Any]]:
    query = container.query_items(
        "SELECT * FROM c WHERE c.organization_id = @org",
        parameters=[{"name": "@org", "value": str(organization_id)}],
    )
    return [item async for item in query]

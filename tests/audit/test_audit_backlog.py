"""The outbox's bound: while the audit store is away events wait in the outbox, and once it holds
``audit_outbox_max_backlog`` undelivered events new generations are refused with a 503 that says why
and when to retry — nothing written — until the relay has caught up. The probe reports it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit.backlog import BacklogGate
from donatello.audit.repository import undelivered_up_to
from donatello.auth.tokens import TokenSigner
from tests.support import generation_world as gw
from tests.support.audit_helpers import record_events, relay_in_test
from tests.support.savepoints import sessions_in

GENERATION = {"prompt": "a lighthouse at dusk", "size": "512x512"}


@pytest.fixture
def bounded(app: FastAPI) -> Iterator[None]:
    """The app's own gate is put back after a test installs one over its transaction."""
    original = app.state.audit_backlog
    yield
    app.state.audit_backlog = original


async def _gate(app: FastAPI, db: AsyncSession, headroom: int) -> BacklogGate:
    """A gate whose bound lies ``headroom`` events above what is undelivered now; re-read every request."""
    waiting = await undelivered_up_to(db, 10_000_000)
    gate = BacklogGate(sessions_in(await db.connection()), limit=waiting + headroom, refresh_seconds=0)
    app.state.audit_backlog = gate
    return gate


async def test_at_the_bound_new_generations_are_refused_until_the_relay_catches_up(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, tokens: TokenSigner, bounded: None
) -> None:
    world = await gw.world(db, tokens)
    await _gate(app, db, headroom=3)

    first = await client.post("/v1/generations", json=GENERATION, headers=world.headers)
    assert first.status_code == 202, first.text  # its generation.requested event: 1 of the 3
    await record_events(db, world.org.id, 2)  # the store is away: two more events wait

    refused = await client.post("/v1/generations", json=GENERATION, headers=world.headers)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "30"
    problem = refused.json()
    assert problem["type"].endswith("/audit-backlog-full")
    assert problem["limit"] == problem["undelivered"]
    assert await gw.count_generations(db, world.org) == 1, "nothing written for the refused request"

    # Reading goes on.
    assert (
        await client.get(f"/v1/generations/{first.json()['id']}", headers=world.headers)
    ).status_code == 200

    await (await relay_in_test(db)).drain()  # the store is back and the relay ships the backlog
    again = await client.post("/v1/generations", json=GENERATION, headers=world.headers)
    assert again.status_code == 202, again.text


async def test_the_bound_is_read_at_most_once_per_interval(
    app: FastAPI, db: AsyncSession, bounded: None
) -> None:
    waiting = await undelivered_up_to(db, 10_000_000)
    gate = BacklogGate(sessions_in(await db.connection()), limit=waiting + 1, refresh_seconds=3600)
    await gate.admit()  # reads: under the bound
    await record_events(db, None, 5)
    await gate.admit()  # within the interval the reading in memory decides: no query, still admitted
    assert gate.full is None
    gate.refresh_seconds = 0
    with pytest.raises(Exception, match="audit events are waiting"):
        await gate.admit()


async def test_the_probe_reports_the_backlog_its_age_and_the_refusal(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI
) -> None:
    settings = app.state.settings
    waiting = await undelivered_up_to(db, 10_000_000)
    await record_events(db, None, 2)
    app.state.settings = settings.model_copy(update={"audit_outbox_max_backlog": waiting + 2})
    try:
        ready = await client.get("/health/ready")
    finally:
        app.state.settings = settings
    assert ready.status_code == 200, "a backlog never makes the API unready"
    body = ready.json()
    relay = body["checks"]["audit_relay"]
    assert body["status"] == "degraded"
    assert relay["undelivered"] == waiting + 2 and relay["max_backlog"] == waiting + 2
    assert relay["oldest_undelivered_age_s"] >= 0
    assert relay["effect"] == "new generations refused until the relay catches up"

"""Many wrong credentials at once from one address: one API process checks at most ``IN_FLIGHT`` of them at
a time, each after reading the address's failure window, so however many arrive together at most
``limit + IN_FLIGHT - 1`` are checked (401) and the rest are refused unchecked (429) — with the in-process
limiter and with the shared Redis one alike — while a good credential from another address still gets in.
Runs the application on real connections with real commits, in a database of its own (the burst's audit
record is committed and the audit log is append-only)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from donatello.auth.throttle import IN_FLIGHT
from donatello.config import Settings
from donatello.core import migrations
from donatello.core.database import create_engine
from donatello.main import create_app
from tests.support.database import APP_ROLE

LIMIT = 5
PARALLEL = 60
ATTACKER, HONEST = "203.0.113.67", "198.51.100.8"
DATABASE = "donatello_throttle_storm"


@pytest.fixture(scope="module")
def storm_database(postgres_url: str) -> Iterator[tuple[str, str, uuid.UUID, uuid.UUID]]:
    """(URL, libpq host, organization, member) of a migrated database of its own with one member."""
    url = make_url(postgres_url)
    host = url.query["host"]
    assert isinstance(host, str)
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    own = url.set(database=DATABASE).render_as_string(hide_password=False)
    migrations.upgrade(own)
    org, member = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(host=host, user="postgres", dbname=DATABASE, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, domain) VALUES (%s, 'Storm', 'storm.example')", (org,)
        )
        conn.execute(
            "INSERT INTO users (id, organization_id, email, role) VALUES (%s, %s, 'p@storm.example', 'power_user')",
            (member, org),
        )
    yield own, host, org, member
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture(params=["in-process", "redis"])
async def storm_app(
    request: pytest.FixtureRequest, settings: Settings, storm_database: tuple[str, str, uuid.UUID, uuid.UUID]
) -> AsyncIterator[FastAPI]:
    url = storm_database[0]
    shared = request.getfixturevalue("redis_url") if request.param == "redis" else None
    engine = create_engine(url, app_role=APP_ROLE, pool_size=10, max_overflow=0)
    app = create_app(
        settings.model_copy(
            update={
                "database_url": url,
                "redis_url": shared,
                "auth_failure_limit": LIMIT,
                "auth_failure_window_seconds": 60,
                # Its own keys in the shared Redis: the parametrised runs must not share a window.
                "rate_limit_hash_tag": f"storm-{uuid.uuid4().hex}",
            }
        ),
        engine=engine,
    )
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await engine.dispose()


def _from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)


async def test_parallel_wrong_keys_from_one_address_are_checked_at_most_limit_times(
    storm_app: FastAPI, storm_database: tuple[str, str, uuid.UUID, uuid.UUID]
) -> None:
    _, _, org, member = storm_database
    good = {"Authorization": f"Bearer {storm_app.state.token_signer.issue(member, org)}"}
    wrong = [
        {"Authorization": f"Bearer dnt_{index:03d}guessguessguessguessguess"} for index in range(PARALLEL)
    ]

    async with _from(storm_app, ATTACKER) as attacker, _from(storm_app, HONEST) as honest:
        answers = await asyncio.gather(*(attacker.get("/v1/me", headers=header) for header in wrong))
        from_elsewhere = await honest.get("/v1/me", headers=good)

    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) == {401, 429}
    assert LIMIT <= statuses[401] <= LIMIT + IN_FLIGHT - 1  # the stated overshoot for one API process
    assert statuses[429] == PARALLEL - statuses[401]
    assert from_elsewhere.status_code == 200

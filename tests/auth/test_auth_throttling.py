"""Failed authentication is throttled per client address: after a burst of wrong bearer tokens, API keys
or SCIM tokens, that address gets 429 with Retry-After (problem+json; SCIM's format on /scim/v2) — even
for a good credential, so guessing stops paying — and the burst is recorded once; a good credential from
another address is unaffected. Runs its own app with the production figures' shape (5 in a minute here)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.main import create_app
from donatello.models import AuditOutbox
from tests.support import factories
from tests.support.savepoints import sessions_in
from tests.support.scim_helpers import SCIM, provisioning_token
from tests.support.signin import bearer, bearer_for

LIMIT = 5
ATTACKER, HONEST = "203.0.113.66", "198.51.100.7"

Client = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def throttled(settings: Settings, engine: AsyncEngine, db: AsyncSession) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings.model_copy(update={"auth_failure_limit": LIMIT, "auth_failure_window_seconds": 60}),
        engine=engine,
    )
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = sessions_in(await db.connection())
        yield app


def _from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _throttle_events(db: AsyncSession) -> list[AuditOutbox]:
    stmt = select(AuditOutbox).where(AuditOutbox.event_type == "auth.throttled")
    return list((await db.execute(stmt)).scalars())


async def test_a_burst_of_wrong_api_keys_and_tokens_is_throttled_for_that_address_only(
    throttled: FastAPI, db: AsyncSession
) -> None:
    tokens: TokenSigner = throttled.state.token_signer
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    good = bearer_for(tokens, member)
    wrong_keys = [f"dnt_{index:02d}guessguessguessguessguess" for index in range(LIMIT + 10)]

    async with _from(throttled, ATTACKER) as attacker, _from(throttled, HONEST) as honest:
        for _ in range(3):  # successes cost nothing
            assert (await attacker.get("/v1/me", headers=good)).status_code == 200
        failures = [
            (await attacker.get("/v1/me", headers=bearer(key))).status_code for key in wrong_keys[:LIMIT]
        ]
        assert failures == [401] * LIMIT
        throttled_answers = [
            await attacker.get("/v1/me", headers=bearer(key)) for key in wrong_keys[LIMIT:]
        ] + [await attacker.get("/v1/me", headers=bearer("not.our.token"))]
        good_from_attacker = await attacker.get("/v1/me", headers=good)
        good_from_elsewhere = await honest.get("/v1/me", headers=good)

    for answer in [*throttled_answers, good_from_attacker]:
        assert answer.status_code == 429, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/authentication-throttled")
        assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert good_from_elsewhere.status_code == 200

    [event] = await _throttle_events(db)  # one record per burst, however long it goes on
    metadata = event.payload["metadata"]
    assert (metadata["address"], metadata["surface"]) == (ATTACKER, "api_key")
    assert event.organization_id is None
    assert not any(key in json.dumps(event.payload) for key in wrong_keys)


async def test_a_burst_of_wrong_scim_tokens_is_throttled_in_scims_own_format(
    throttled: FastAPI, db: AsyncSession
) -> None:
    org = await factories.organization(db)
    token = await provisioning_token(db, org)
    good = {"Authorization": f"Bearer {token}", "Accept": SCIM}

    async with _from(throttled, ATTACKER) as attacker, _from(throttled, HONEST) as honest:
        wrong = [
            (await attacker.get("/scim/v2/Users", headers={"Authorization": f"Bearer dsp_wrong{index}"}))
            for index in range(LIMIT + 3)
        ]
        still_good_elsewhere = await honest.get("/scim/v2/Users", headers=good)

    assert [answer.status_code for answer in wrong] == [401] * LIMIT + [429] * 3
    refused = wrong[-1]
    assert refused.headers["content-type"].startswith(SCIM)
    assert refused.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert refused.json()["status"] == "429" and int(refused.headers["retry-after"]) >= 1
    assert still_good_elsewhere.status_code == 200
    [event] = await _throttle_events(db)
    assert (event.payload["metadata"]["address"], event.payload["metadata"]["surface"]) == (ATTACKER, "scim")
    assert "dsp_wrong" not in json.dumps(event.payload)

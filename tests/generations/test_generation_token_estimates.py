"""A token-priced model whose tokens-per-minute quota binds before its requests do: a waiting
generation's estimated start counts the tokens of the calls ahead of it, and admission refuses — 429 with
an honest Retry-After — once that same estimate is further away than the longest wait allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from donatello.core.clock import utcnow
from donatello.core.database import create_sessionmaker
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.ledger import committed_tenant
from tests.support.queued import azure_model

#: 1024x1024 at medium: 1,056 output tokens, and the prompt's bound (its bytes and the framing): about
#: 1,100 tokens a call, so a minute's 2,650 tokens hold two calls — while 60 requests a minute hold 60
TOKENS_PER_MINUTE = 2650


@pytest.fixture
async def api(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a pool of its own: it commits what it admits and reads what others committed."""
    app.state.sessionmaker = create_sessionmaker(engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_a_binding_token_quota_pushes_estimated_starts_and_admission_refuses_past_the_bound(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    azure_stub: AzureOpenAIStub,
    api: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.state.settings, "rate_limit_user_per_minute", {"power_user": 60})
    monkeypatch.setattr(app.state.settings, "generation_max_queue_wait_seconds", 100)
    async with (
        azure_model(
            engine, postgres_url, azure_stub, per_minute=60, tokens_per_minute=TOKENS_PER_MINUTE
        ) as model,
        committed_tenant(engine, postgres_url, budget="50.00", members=1) as tenant,
    ):
        [member] = tenant.members
        token = app.state.token_signer.issue(member.id, member.organization_id)
        headers = {"Authorization": f"Bearer {token}"}

        def ask(i: int) -> dict[str, str]:
            model_name = f"azure-openai/{model.model_name}"
            return {"prompt": f"harbour {i}", "model": model_name, "size": "1024x1024", "quality": "medium"}

        asked_at = utcnow()
        admitted = [await api.post("/v1/generations", json=ask(i), headers=headers) for i in range(4)]
        assert [response.status_code for response in admitted] == [202] * 4, admitted[-1].text
        views = [
            (await api.get(f"/v1/generations/{response.json()['id']}", headers=headers)).json()
            for response in admitted
        ]
        # two calls' tokens fit a minute: two start now and two a minute later (by the request quota
        # alone, all four would start now)
        starts = [(datetime.fromisoformat(v["estimated_start_at"]) - asked_at).total_seconds() for v in views]
        assert [v["queue_position"] for v in views] == [1, 2, 3, 4]
        assert [round(start / 60) for start in starts] == [0, 0, 1, 1], starts

        # a fifth would start two minutes out: past the 100 s allowed, by about 20 s
        refused = await api.post("/v1/generations", json=ask(5), headers=headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["scope"] == "provider"
        assert 19 <= int(refused.headers["retry-after"]) <= 21

"""Which allowances a generation request is charged against, and the 429 a client sees."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.main import create_app
from donatello.models import DepartmentBudget, ModelCall, ProviderConfig
from donatello.ratelimit import (
    Check,
    InProcessLimiter,
    LimitScope,
    RateLimited,
    RateLimiter,
    RedisLimiter,
    checks_for,
    enforce,
)
from donatello.ratelimit.dependencies import Limiter
from donatello.tenancy import Principal, Role
from tests.support import generation_world, provider_rows


def principal(role: Role = Role.STANDARD_USER, organization_id: uuid.UUID | None = None) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        organization_id=organization_id or uuid.uuid4(),
        department_id=uuid.uuid4(),
        role=role,
        email="someone@example.com",
    )


def plain_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)


def test_limits_follow_the_role_and_cover_user_organization_and_provider() -> None:
    settings = plain_settings()
    standard = principal()
    checks = checks_for(
        standard, provider="azure-openai", provider_limit_per_minute=50, settings=settings, images=3
    )
    assert [(c.scope, c.limit, c.window_seconds, c.cost) for c in checks] == [
        (LimitScope.USER, 10, 60, 3),
        (LimitScope.USER, 200, 86_400, 3),
        (LimitScope.ORGANIZATION, 600, 60, 3),
        (LimitScope.PROVIDER, 50, 60, 3),
    ]
    assert all(c.key.startswith("donatello:rl:{") for c in checks)
    # a user's and their organization's keys share one Redis Cluster hash slot
    tag = f"{{{standard.organization_id}}}"
    assert all(tag in c.key for c in checks[:3])

    power = checks_for(
        principal(Role.POWER_USER), provider=None, provider_limit_per_minute=None, settings=settings, images=1
    )
    assert [c.limit for c in power] == [30, 1_000, 600]
    unlimited_provider = checks_for(
        principal(), provider="local", provider_limit_per_minute=None, settings=settings, images=1
    )
    assert LimitScope.PROVIDER not in {c.scope for c in unlimited_provider}


def test_a_cluster_hash_tag_puts_every_key_in_one_slot() -> None:
    settings = plain_settings(rate_limit_hash_tag="rl")
    checks = checks_for(
        principal(), provider="azure-openai", provider_limit_per_minute=5, settings=settings, images=1
    )
    assert all(c.key.startswith("donatello:rl:{rl}:") for c in checks)


@pytest.fixture(params=["redis", "in-process"])
async def limiter(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[RateLimiter]:
    if request.param == "in-process":
        yield InProcessLimiter()
        return
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    yield RedisLimiter(client)
    await client.aclose()


async def test_a_standard_user_gets_ten_images_a_minute(limiter: RateLimiter) -> None:
    settings = plain_settings()
    user = principal()

    def checks(images: int) -> list[Check]:
        return checks_for(
            user, provider=None, provider_limit_per_minute=None, settings=settings, images=images
        )

    await enforce(limiter, checks(4))
    await enforce(limiter, checks(4))
    with pytest.raises(RateLimited) as refused:
        await enforce(limiter, checks(4))
    assert refused.value.extensions["scope"] == "user"
    assert refused.value.extensions["limit"] == 10
    await enforce(limiter, checks(2))  # the refused request charged nothing


async def test_the_organization_allowance_is_shared_by_its_members(limiter: RateLimiter) -> None:
    settings = plain_settings(rate_limit_organization_per_minute=5)
    organization = uuid.uuid4()
    alice, bob = principal(organization_id=organization), principal(organization_id=organization)
    await enforce(
        limiter,
        checks_for(alice, provider=None, provider_limit_per_minute=None, settings=settings, images=4),
    )
    with pytest.raises(RateLimited) as refused:
        await enforce(
            limiter,
            checks_for(bob, provider=None, provider_limit_per_minute=None, settings=settings, images=2),
        )
    assert refused.value.extensions["scope"] == "organization"
    assert "organization limit of 5 images per minute" in refused.value.detail


async def test_a_provider_limit_is_shared_across_organizations(limiter: RateLimiter) -> None:
    settings = plain_settings()
    provider = f"provider-{uuid.uuid4().hex[:8]}"
    await enforce(
        limiter,
        checks_for(principal(), provider=provider, provider_limit_per_minute=2, settings=settings, images=2),
    )
    with pytest.raises(RateLimited) as refused:
        await enforce(
            limiter,
            checks_for(
                principal(), provider=provider, provider_limit_per_minute=2, settings=settings, images=1
            ),
        )
    assert refused.value.extensions["scope"] == "provider"


@pytest.fixture(params=["redis", "in-process"])
async def limited_app(
    request: pytest.FixtureRequest, settings: Settings, engine: AsyncEngine, redis_url: str
) -> AsyncIterator[FastAPI]:
    """The real application (lifespan, error handler) with one extra route that enforces a limit."""
    redis = redis_url if request.param == "redis" else None
    app = create_app(settings.model_copy(update={"redis_url": redis}), engine=engine)
    key = f"donatello:rl:{{test-{uuid.uuid4().hex}}}:endpoint"

    @app.post("/limited")
    async def limited(limiter: Limiter) -> dict[str, str]:
        await enforce(limiter, [Check(key, 2, 60, 1, LimitScope.USER)])
        return {"status": "admitted"}

    async with app.router.lifespan_context(app):
        yield app


async def test_over_the_limit_a_client_gets_429_problem_json_with_retry_after(limited_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.post("/limited")).status_code == 200
        assert (await http.post("/limited")).status_code == 200
        response = await http.post("/limited")

    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    body = response.json()
    assert body["type"] == "https://donatello.ai/problems/rate-limited"
    assert body["status"] == 429
    assert body["scope"] == "user" and body["limit"] == 2
    assert body["retry_after_seconds"] == retry_after
    assert body["instance"] == "/limited"


async def test_a_refused_request_uses_up_no_allowance(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a provider limit of 1 a minute, requests for 2 images were refused by the provider
    limit but still charged to the user, who was then refused though nothing was ever generated. (A model's
    quota now queues requests; it refuses only past the longest wait allowed, here 30 s: with the minute's
    one call just made, the next waits a minute.)"""
    monkeypatch.setattr(settings, "generation_max_queue_wait_seconds", 30)
    world = await generation_world.world(db, tokens, role="standard_user")  # 10 images a minute
    slow = await provider_rows.model(db, "local", name=f"slow-{uuid.uuid4().hex[:6]}", price="0.0500")
    db.add(ProviderConfig(provider_id=slow.id, max_retries=0, rate_limit_per_minute=1))
    just_now = utcnow() - timedelta(seconds=0.5)
    db.add(ModelCall(provider_id=slow.id, generation_id=uuid.uuid4(), sent_at=just_now, called_at=just_now))
    await db.flush()

    def ask(model: str, n: int) -> dict[str, object]:
        return {"prompt": "a harbour at dawn", "model": model, "size": "512x512", "n": n}

    for _ in range(5):
        refused = await client.post(
            "/v1/generations", json=ask(f"local/{slow.model_name}", 2), headers=world.headers
        )
        assert refused.status_code == 429, refused.text
        assert refused.json()["scope"] == "provider"
        # the window's place frees a minute after that call; less the 30 s allowed (these requests take
        # well under a second each)
        assert 29 <= int(refused.headers["retry-after"]) <= 30
    admitted = [
        await client.post(
            "/v1/generations", json=ask(f"local/{world.local.model_name}", 4), headers=world.headers
        )
        for _ in range(2)
    ]
    over = await client.post(
        "/v1/generations", json=ask(f"local/{world.local.model_name}", 4), headers=world.headers
    )

    assert [response.status_code for response in admitted] == [202, 202], admitted[-1].text
    assert over.status_code == 429 and over.json()["scope"] == "user"  # 8 of 10 used: 4 more do not fit


async def test_a_budget_refusal_gives_its_allowance_back(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    """The allowances are charged before the budget decides (so nothing waits on Redis while the budget
    row is locked) and given back when it refuses: twelve refusals in a minute are all the budget's, and
    once the budget allows, the user still has their whole ten images."""
    world = await generation_world.world(db, tokens, role="standard_user", budget="0.01")  # 10 a minute
    ask = {"prompt": "a harbour at dawn", "model": f"local/{world.local.model_name}", "size": "512x512"}

    refused = [await client.post("/v1/generations", json=ask, headers=world.headers) for _ in range(12)]
    assert {(r.status_code, r.json()["type"].rsplit("/", 1)[-1]) for r in refused} == {
        (402, "budget-exceeded")
    }

    budget = await db.scalar(
        select(DepartmentBudget).where(DepartmentBudget.department_id == world.department.id)
    )
    assert budget is not None
    budget.monthly_budget_aud = Decimal("100.00")
    await db.flush()
    admitted = [await client.post("/v1/generations", json=ask, headers=world.headers) for _ in range(10)]
    over = await client.post("/v1/generations", json=ask, headers=world.headers)

    assert [r.status_code for r in admitted] == [202] * 10, admitted[-1].text
    assert over.status_code == 429 and over.json()["scope"] == "user"

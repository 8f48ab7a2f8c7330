"""A token-priced deployment's tokens-per-minute quota paces its calls, counted from the usage the
provider reports: claims wait for room instead of the provider refusing them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from donatello.core.database import create_engine
from tests.support.azure_openai_stub import OUTPUT_TOKENS, AzureOpenAIStub, slow
from tests.support.ledger import committed_tenant
from tests.support.queued import ask, azure_model
from tests.support.serving import serving_workers, until_completed

WINDOW = 2.0  # seconds: the rule of a minute, 30 times faster
#: 2,650 tokens in any 2 s: room for two 1024x1024 medium images (1,056 output tokens each), not three
TOKENS_PER_MINUTE = 79_500
WINDOW_SHARE = TOKENS_PER_MINUTE * WINDOW / 60


def _billed(call_json: dict[str, Any]) -> int:
    """What the stub reports for a call (its usage block): prompt tokens and the image's output tokens."""
    return max(1, len(call_json["prompt"]) // 4) + OUTPUT_TOKENS[("1024x1024", "medium")]


async def test_two_workers_keep_to_a_deployment_s_tokens_per_minute_from_the_usage_it_reports(
    app: FastAPI, engine: AsyncEngine, postgres_url: str, azure_stub: AzureOpenAIStub
) -> None:
    settings = app.state.settings.model_copy(update={"generation_quota_window_seconds": WINDOW})
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    other = create_engine(postgres_url, app_role=settings.database_app_role, pool_size=5)
    async with (
        azure_model(engine, postgres_url, azure_stub, tokens_per_minute=TOKENS_PER_MINUTE) as model,
        committed_tenant(engine, postgres_url, budget="50.00", members=2) as tenant,
    ):
        ids = [await ask(app, sessions, tenant.members[i % 2], model, f"harbour {i}") for i in range(8)]
        azure_stub.reply(*(slow(0.3) for _ in ids))

        workers = [sessions, async_sessionmaker(other, expire_on_commit=False)]
        async with serving_workers(app, settings, workers) as serving:
            await until_completed(sessions, ids, serving, within=60)
    await other.dispose()

    calls = sorted(azure_stub.requests, key=lambda call: call.at)
    assert len(calls) == 8  # every one made, none refused by the provider or by us
    busiest = max(
        sum(_billed(c.json) for c in calls if start.at <= c.at < start.at + WINDOW) for start in calls
    )
    assert busiest <= WINDOW_SHARE, [round(c.at - calls[0].at, 2) for c in calls]
    # and the quota is used, not wasted: 8 calls at two per 2 s take a little over 6 s
    assert calls[-1].at - calls[0].at < 10, [round(c.at - calls[0].at, 2) for c in calls]

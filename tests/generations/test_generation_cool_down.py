"""A provider's 429 slows that deployment down for every worker process until its Retry-After has
passed — nothing retries blindly — while other models keep going, and the job that got it waits in
the queue instead of failing."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from donatello.core.database import create_engine, transaction
from donatello.models import Generation
from tests.support.azure_openai_stub import AzureOpenAIStub, rate_limited, slow
from tests.support.ledger import committed_tenant
from tests.support.queued import ask, azure_model
from tests.support.serving import serving_workers, until_completed

RETRY_AFTER = 3.0
BUSY, OTHER = "gpt-image-1.5", "gpt-image-1-mini"


async def test_after_a_429_no_worker_calls_that_deployment_until_its_retry_after_and_others_go_on(
    app: FastAPI, engine: AsyncEngine, postgres_url: str, azure_stub: AzureOpenAIStub
) -> None:
    # one call a second on the busy deployment: without the cool-down its calls would go on every second
    settings = app.state.settings.model_copy(update={"generation_quota_window_seconds": 1.0})
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    other_process = create_engine(postgres_url, app_role=settings.database_app_role, pool_size=5)
    async with (
        azure_model(engine, postgres_url, azure_stub, per_minute=60, deployment=BUSY) as busy,
        # dearer: never a fallback for the busy one's generations, which wait for their own model
        azure_model(engine, postgres_url, azure_stub, deployment=OTHER, price="0.0900") as other,
        committed_tenant(engine, postgres_url, budget="50.00", members=2) as tenant,
    ):
        first, second = tenant.members
        on_busy = [await ask(app, sessions, first, busy, f"busy {i}") for i in range(4)]
        on_other = [await ask(app, sessions, second, other, f"other {i}") for i in range(6)]
        azure_stub.reply_on(BUSY, rate_limited(retry_after=str(int(RETRY_AFTER))))
        azure_stub.reply_on(BUSY, *(slow(0.2) for _ in range(4)))
        azure_stub.reply_on(OTHER, *(slow(1.0) for _ in range(6)))

        pools = [sessions, async_sessionmaker(other_process, expire_on_commit=False)]
        async with serving_workers(app, settings, pools) as serving:
            await until_completed(sessions, on_busy + on_other, serving, within=60)

        async with transaction(sessions, platform=True) as session:
            failed = await session.scalar(
                select(func.count()).where(
                    Generation.id.in_(on_busy + on_other), Generation.status != "completed"
                )
            )
    await other_process.dispose()

    busy_calls = sorted(c.at for c in azure_stub.requests if BUSY in c.path)
    other_calls = sorted(c.at for c in azure_stub.requests if OTHER in c.path)
    refused_at = busy_calls[0]  # its answer was the 429, at once
    # nothing reached the busy deployment until its Retry-After had passed — from either worker
    assert all(t >= refused_at + RETRY_AFTER for t in busy_calls[1:]), [
        round(t - refused_at, 2) for t in busy_calls
    ]
    assert len(busy_calls) == 5  # four generations, and the refused one asked once more, not blindly
    # the other model's calls went on meanwhile
    assert len(other_calls) == 6 and all(t < refused_at + RETRY_AFTER for t in other_calls)
    assert failed == 0  # the generation that got the 429 waited its turn and completed

"""Committed Azure deployments and admitted generations for worker tests that need real, committed
queues (throughput, pacing, fair shares): the catalogue is platform-wide, so a model is committed and
removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from donatello.core.database import set_tenant, transaction
from donatello.generations import admission
from donatello.generations.schemas import GenerationCreate
from donatello.models import ModelProvider, ProviderConfig, User
from donatello.providers import availability_for
from tests.support import provider_rows
from tests.support.azure_openai_stub import DEFAULT_DEPLOYMENT, AzureOpenAIStub
from tests.support.ledger import principal_of

#: per million tokens, in AUD (no exchange rate to commit beside the model)
TOKEN_PRICES = {
    "token_price_input_text": Decimal("7.60"),
    "token_price_input_image": Decimal("12.16"),
    "token_price_output_image": Decimal("48.64"),
}


@asynccontextmanager
async def azure_model(
    engine: AsyncEngine,
    postgres_url: str,
    stub: AzureOpenAIStub,
    *,
    per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    deployment: str = DEFAULT_DEPLOYMENT,
    price: str = "0.0800",
) -> AsyncIterator[ModelProvider]:
    """An Azure deployment with the quotas given (none by default), committed (the catalogue is
    platform-wide) and removed afterwards. With a token quota it is priced per token (AUD), as the
    gpt-image deployments whose usage counts against it are."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    pricing = (
        {"pricing_unit": "token", **TOKEN_PRICES}
        if tokens_per_minute
        else {"cost_per_image_aud": Decimal(price)}
    )
    async with transaction(sessions, platform=True) as session:
        model = ModelProvider(
            provider_name="azure-openai",
            model_name=f"t-{uuid.uuid4().hex[:8]}",
            api_endpoint=stub.endpoint(deployment),
            timeout_seconds=60,
            **pricing,
        )
        session.add(model)
        await session.flush()
        session.add(
            ProviderConfig(
                provider_id=model.id,
                max_retries=0,
                rate_limit_per_minute=per_minute,
                token_limit_per_minute=tokens_per_minute,
                configuration={"family": "gpt-image"} if tokens_per_minute else {},
                credential=provider_rows.TEST_CREDENTIAL,
            )
        )
    try:
        yield model
    finally:
        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:
            await connection.execute(text("DELETE FROM model_providers WHERE id = :id"), {"id": model.id})
        await owner.dispose()


async def ask(
    app: FastAPI,
    sessions: async_sessionmaker[AsyncSession],
    member: User,
    model: ModelProvider,
    prompt: str,
) -> uuid.UUID:
    """Admit one image for ``member`` (a 202 through the admission service)."""
    state = app.state
    gate = admission.Admission(state.settings, state.sealer, state.rate_limiter, availability_for(None))
    member.mfa_enabled = True
    body = GenerationCreate(
        prompt=prompt, model=f"{model.provider_name}/{model.model_name}", size="1024x1024"
    )
    async with transaction(sessions) as session:
        await set_tenant(session, member.organization_id)
        return (await admission.request(session, principal_of(member), body, None, gate)).id

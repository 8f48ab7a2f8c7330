"""A worker that obtains model credentials as production does, and Azure OpenAI models that need them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from azure.core.pipeline.transport import AioHttpTransport
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.config import Settings
from donatello.generations.processing import Processor
from donatello.models import ModelProvider
from donatello.providers import availability_for
from donatello.providers.credentials import ModelCredentials
from tests.support import provider_rows
from tests.support.azure_openai_stub import AzureOpenAIStub, Reply
from tests.support.savepoints import sessions_in

CACHE_SECONDS = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def credentials(
    settings: Settings,
    *,
    vault: AioHttpTransport | None = None,
    clock: Callable[[], float] | None = None,
) -> ModelCredentials:
    """The process's credentials; against a loopback vault the SDK's challenge-resource check is off."""
    tuned = settings.model_copy(
        update={
            "provider_key_vault_verify_challenge_resource": vault is None,
            "provider_secret_cache_seconds": CACHE_SECONDS,
            "provider_identity_retries": 0,
            "key_vault_retries": 0,
        }
    )
    options: dict[str, Any] = {"vault_transport": vault}
    if clock is not None:
        options["clock"] = clock
    return ModelCredentials(tuned, **options)


async def worker(
    app: FastAPI, db: AsyncSession, http: httpx.AsyncClient, source: ModelCredentials
) -> Processor:
    """A worker in the test's transaction that obtains each candidate's credential before calling it."""

    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    return Processor(
        sessions=sessions_in(await db.connection()),
        settings=app.state.settings,
        sealer=app.state.sealer,
        store=app.state.image_store,
        http=http,
        availability=availability_for(None),
        sleep=no_wait,
        credentials=source,
    )


async def azure_model(
    db: AsyncSession, stub: AzureOpenAIStub, credential: dict[str, Any] | None, *, price: str = "0.0800"
) -> ModelProvider:
    """An Azure OpenAI deployment on the stub, first in priority, that calls once (no retries)."""
    return await provider_rows.model(
        db,
        "azure-openai",
        name=f"azure-{uuid.uuid4().hex[:6]}",
        price=price,
        priority=10,
        endpoint=stub.endpoint(),
        timeout_seconds=5,
        max_retries=0,
        credential=credential,
    )


def deployment_not_found() -> Reply:
    """Azure's answer for a deployment that does not exist."""
    return Reply(
        status=404,
        body={
            "error": {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist. If you created the deployment "
                "within the last 5 minutes, please wait a moment and try again.",
            }
        },
    )

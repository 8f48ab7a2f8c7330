"""Typed helpers that put model catalogue rows in the test's transaction."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import ModelProvider, ProviderConfig
from donatello.providers.adapters import NEEDS_CREDENTIAL

#: what a model needing credentials is given unless a test says otherwise
TEST_CREDENTIAL: dict[str, Any] = {"kind": "environment", "variable": "TEST_PROVIDER_KEY"}


async def only_these_models(db: AsyncSession) -> None:
    """Deactivate every model already in the catalogue (rolled back with the test)."""
    await db.execute(update(ModelProvider).values(is_active=False))


async def model(
    db: AsyncSession,
    provider: str,
    *,
    name: str | None = None,
    price: str = "0.0500",
    priority: int = 100,
    endpoint: str = "local://pillow",
    timeout_seconds: int = 30,
    is_active: bool = True,
    max_retries: int | None = None,
    configuration: dict[str, Any] | None = None,
    size_multipliers: dict[str, str] | None = None,
    credential: dict[str, Any] | None = TEST_CREDENTIAL,
) -> ModelProvider:
    """A model in the catalogue; one whose provider needs credentials gets ``credential`` (by default a
    key in an environment variable no test sets) unless it is None (such a model cannot run)."""
    row = ModelProvider(
        provider_name=provider,
        model_name=name or f"m-{uuid.uuid4().hex[:8]}",
        api_endpoint=endpoint,
        cost_per_image_aud=Decimal(price),
        priority=priority,
        timeout_seconds=timeout_seconds,
        is_active=is_active,
        size_multipliers=size_multipliers or {},
    )
    db.add(row)
    await db.flush()
    configured = credential if provider in NEEDS_CREDENTIAL else None
    if max_retries is not None or configuration is not None or configured is not None:
        db.add(
            ProviderConfig(
                provider_id=row.id,
                max_retries=3 if max_retries is None else max_retries,
                configuration=configuration or {},
                credential=configured,
            )
        )
        await db.flush()
    return row

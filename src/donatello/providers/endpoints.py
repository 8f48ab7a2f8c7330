from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.openapi import problem_responses
from donatello.providers import service
from donatello.providers.dependencies import CanManageProviders, CanReadProviders, ModelAvailability
from donatello.providers.errors import ProviderModelExists, SecretInConfiguration
from donatello.providers.price_schemas import PriceHistory, PriceSchedule, PriceVersionRead
from donatello.providers.prices import PriceScheduledAhead
from donatello.providers.schemas import (
    ProviderConfigRead,
    ProviderConfigWrite,
    ProviderCreate,
    ProviderRead,
    ProviderUpdate,
)

router = APIRouter(prefix="/providers", tags=["providers"])


@router.get(
    "", response_model=Page[ProviderRead], responses=problem_responses(Unauthenticated, ValidationFailed)
)
async def list_providers(
    principal: CanReadProviders,
    session: DbSession,
    availability: ModelAvailability,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ProviderRead]:
    return await service.list_providers(session, principal, availability, cursor, limit)


@router.get("/{provider_id}", response_model=ProviderRead, responses=problem_responses(NotFound))
async def get_provider(
    provider_id: uuid.UUID, principal: CanReadProviders, session: DbSession, availability: ModelAvailability
) -> ProviderRead:
    return await service.get(session, principal, availability, provider_id)


@router.post(
    "",
    status_code=201,
    response_model=ProviderRead,
    responses=problem_responses(Forbidden, ProviderModelExists, ValidationFailed, SecretInConfiguration),
)
async def create_provider(
    body: ProviderCreate, principal: CanManageProviders, session: DbSession, availability: ModelAvailability
) -> ProviderRead:
    return await service.create(session, principal, availability, body)


@router.patch(
    "/{provider_id}",
    response_model=ProviderRead,
    responses=problem_responses(Forbidden, NotFound, ValidationFailed, PriceScheduledAhead),
)
async def update_provider(
    provider_id: uuid.UUID,
    body: ProviderUpdate,
    principal: CanManageProviders,
    session: DbSession,
    availability: ModelAvailability,
) -> ProviderRead:
    return await service.update(session, principal, availability, provider_id, body)


@router.put(
    "/{provider_id}/config",
    response_model=ProviderConfigRead,
    responses=problem_responses(Forbidden, NotFound, ValidationFailed, SecretInConfiguration),
)
async def configure_provider(
    provider_id: uuid.UUID, body: ProviderConfigWrite, principal: CanManageProviders, session: DbSession
) -> ProviderConfigRead:
    return await service.configure(session, principal, provider_id, body)


@router.get("/{provider_id}/prices", response_model=PriceHistory, responses=problem_responses(NotFound))
async def price_history(
    provider_id: uuid.UUID, principal: CanReadProviders, session: DbSession
) -> PriceHistory:
    return await service.price_history(session, principal, provider_id)


@router.post(
    "/{provider_id}/prices",
    status_code=201,
    response_model=PriceVersionRead,
    responses=problem_responses(Forbidden, NotFound, ValidationFailed),
)
async def schedule_price(
    provider_id: uuid.UUID, body: PriceSchedule, principal: CanManageProviders, session: DbSession
) -> PriceVersionRead:
    return await service.schedule_price(session, principal, provider_id, body)

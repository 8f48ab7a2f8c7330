from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from donatello.auth.dependencies import require
from donatello.config import Settings
from donatello.dependencies import resources_of
from donatello.generations.admission import Admission
from donatello.providers import availability_for
from donatello.sealing import PromptSealer
from donatello.storage import ImageStore
from donatello.tenancy import Action, Principal


async def _admission(request: Request) -> Admission:
    state = resources_of(request)
    return Admission(
        settings=state.settings,
        sealer=state.sealer,
        limiter=state.rate_limiter,
        availability=availability_for(state.redis),
        audit_backlog=state.audit_backlog,
    )


async def _settings(request: Request) -> Settings:
    settings: Settings = resources_of(request).settings
    return settings


async def _store(request: Request) -> ImageStore:
    store: ImageStore = resources_of(request).image_store
    return store


async def _sealer(request: Request) -> PromptSealer:
    sealer: PromptSealer = resources_of(request).sealer
    return sealer


AdmissionContext = Annotated[Admission, Depends(_admission)]
Images = Annotated[ImageStore, Depends(_store)]
Configured = Annotated[Settings, Depends(_settings)]
Sealer = Annotated[PromptSealer, Depends(_sealer)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key returns the same generation; another body with it is a 409",
    ),
]

#: One's own generations (generations:create) or others' (generations:read-others; managers: their
#: department) — an API key without either reads no generations at all.
CanReadGenerations = Annotated[Principal, Depends(require(Action.READ_GENERATIONS))]
#: Cancel, delete or read the prompt of one's own generations, or (generations:manage-others) others'.
CanActOnGenerations = Annotated[Principal, Depends(require(Action.ACT_ON_GENERATIONS))]

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from donatello.generations.admission import Admission
from donatello.providers import availability_for
from donatello.sealing import PromptSealer
from donatello.storage import ImageStore


def _admission(request: Request) -> Admission:
    state = request.app.state
    return Admission(
        settings=state.settings,
        sealer=state.sealer,
        limiter=state.rate_limiter,
        availability=availability_for(state.redis),
    )


def _store(request: Request) -> ImageStore:
    store: ImageStore = request.app.state.image_store
    return store


def _sealer(request: Request) -> PromptSealer:
    sealer: PromptSealer = request.app.state.sealer
    return sealer


AdmissionContext = Annotated[Admission, Depends(_admission)]
Images = Annotated[ImageStore, Depends(_store)]
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

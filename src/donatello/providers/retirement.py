"""Models with a retirement date (``retires_on``): warned of ahead, never chosen after.

From ``retires_on`` on, ``auto`` never chooses the model and a request naming it is refused with 422
suggesting its replacement (the configuration's ``replaced_by``). Platform administrators are warned
``WARN_DAYS`` ahead — 30 and 7 days before, once each — by the audit event ``provider.retiring`` in the
platform organization, which reaches them in the app and as the webhook event of that name.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.errors import ValidationFailed
from donatello.models import ModelProvider, ProviderConfig
from donatello.providers import repository

#: days before ``retires_on`` when platform administrators are warned, furthest first
WARN_DAYS = (30, 7)


class ModelRetired(ValidationFailed):
    type = "model-retired"
    title = "The model is retired"

    def __init__(self, model: str, retired_on: date, replaced_by: str | None) -> None:
        instead = f"use {replaced_by} instead" if replaced_by else "choose another model or model auto"
        super().__init__(
            f"{model} was retired on {retired_on.isoformat()}; {instead}",
            field="model",
            model=model,
            retired_on=retired_on.isoformat(),
            replaced_by=replaced_by,
        )
        self.reason = f"it was retired on {retired_on.isoformat()}"


def retired(model: ModelProvider, today: date) -> bool:
    return model.retires_on is not None and model.retires_on <= today


def replacement(config: ProviderConfig | None) -> str | None:
    named = config.configuration.get("replaced_by") if config is not None else None
    return named if isinstance(named, str) and named else None


def check(model: ModelProvider, config: ProviderConfig | None, today: date) -> None:
    """422 suggesting the replacement when the named model is retired."""
    if retired(model, today):
        assert model.retires_on is not None
        raise ModelRetired(f"{model.provider_name}/{model.model_name}", model.retires_on, replacement(config))


async def warn(session: AsyncSession, platform_organization_id: uuid.UUID, today: date) -> int:
    """Record ``provider.retiring`` for each active model entering a warning window it was not yet warned
    in (once each: the row's update is the claim); how many warnings were recorded."""
    sent = 0
    for days in sorted(WARN_DAYS):  # nearest first: a model first seen 5 days ahead is warned once
        for model in await repository.claim_retirement_warning(session, today, days):
            assert model.retires_on is not None
            config = await repository.config_for(session, model.id)
            await audit.record_event(
                session,
                "provider.retiring",
                action="provider_retiring",
                resource=("model_provider", model.id),
                organization_id=platform_organization_id,
                details={
                    "provider": model.provider_name,
                    "model": model.model_name,
                    "retires_on": model.retires_on.isoformat(),
                    "days_left": (model.retires_on - today).days,
                    "replaced_by": replacement(config),
                },
            )
            sent += 1
    return sent

"""Models and prices: what each model costs per image and how size and quality change it, whether it is
running; everyone sees the active models (administrators the inactive ones too, and why a model is not
available), as ``GET /v1/providers``. A super admin also changes them here — price, multipliers, pause and
resume, trying an unavailable model again, a new model — through the providers API's own
``providers.service`` (audited per field); anyone else gets no controls and a 403."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.core.errors import ValidationFailed
from donatello.core.pagination import MAX_LIMIT
from donatello.dependencies import DbSession, resources_of
from donatello.providers import service as providers
from donatello.providers.availability import availability_for
from donatello.providers.schemas import ProviderCreate, ProviderRead, ProviderUpdate
from donatello.tenancy import Permission
from donatello.web.dependencies import SignedIn, Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Changing = Annotated[Viewer, Depends(requiring(Permission.PROVIDERS_MANAGE, changes_state=True))]
Text = Annotated[str, Form(max_length=500)]
Schema = TypeVar("Schema", ProviderCreate, ProviderUpdate)
_PAIR = re.compile(r"^\s*([^=\s]+)\s*=\s*([0-9.]+)\s*$")


@router.get("/models", response_class=HTMLResponse)
async def models(request: Request, viewer: SignedIn, session: DbSession, done: str = "") -> HTMLResponse:
    listed = await providers.list_providers(
        session, viewer.principal, availability_for(resources_of(request).redis), None, MAX_LIMIT
    )
    return page(
        request,
        "models.html",
        viewer=viewer,
        models=listed.items,
        editing=viewer.can(Permission.PROVIDERS_MANAGE),
        done=done[:200],
    )


@router.post("/models/{provider_id}", response_model=None)
async def change_prices(
    request: Request,
    provider_id: uuid.UUID,
    viewer: Changing,
    session: DbSession,
    price: Text = "",
    sizes: Text = "",
    qualities: Text = "",
) -> RedirectResponse:
    """Price per image (in the model's pricing currency) and the size and quality multipliers."""
    availability = availability_for(resources_of(request).redis)
    current = await providers.get(session, viewer.principal, availability, provider_id)
    changes: dict[str, object] = {
        "size_multipliers": _multipliers(sizes, "size multipliers"),
        "quality_multipliers": _multipliers(qualities, "quality multipliers"),
    }
    if current.pricing_unit == "image":  # token prices are set through the API
        amount = _decimal(price, "price")
        changes["cost_per_image_aud" if current.pricing_currency == "AUD" else "cost_per_image"] = amount
    body = _valid(ProviderUpdate, changes)
    changed = await providers.update(session, viewer.principal, availability, provider_id, body)
    return _done(f"Saved the prices of {_name(changed)}")


@router.post("/models/{provider_id}/state", response_model=None)
async def change_state(
    request: Request,
    provider_id: uuid.UUID,
    viewer: Changing,
    session: DbSession,
    action: Annotated[Literal["pause", "resume", "retry"], Form()],
) -> RedirectResponse:
    """Pausing takes the model off the list people choose from (and off ``auto``); resuming puts it back;
    trying again makes a model that was made unavailable available (the administrator fixed the cause)."""
    body = ProviderUpdate() if action == "retry" else ProviderUpdate(is_active=action == "resume")
    availability = availability_for(resources_of(request).redis)
    changed = await providers.update(session, viewer.principal, availability, provider_id, body)
    said = {"pause": "Paused", "resume": "Resumed", "retry": "Trying again:"}[action]
    return _done(f"{said} {_name(changed)}")


@router.post("/models", response_model=None)
async def add_model(
    request: Request,
    viewer: Changing,
    session: DbSession,
    provider_name: Annotated[str, Form(max_length=50)] = "",
    model_name: Annotated[str, Form(max_length=100)] = "",
    endpoint: Text = "",
    price: Text = "",
    sizes: Text = "",
    qualities: Text = "",
) -> RedirectResponse:
    """A new model priced in AUD (foreign-priced models and runtime configuration: the API)."""
    body = _valid(
        ProviderCreate,
        {
            "provider_name": provider_name.strip(),
            "model_name": model_name.strip(),
            "api_endpoint": endpoint.strip(),
            "cost_per_image_aud": _decimal(price, "price"),
            "size_multipliers": _multipliers(sizes, "size multipliers"),
            "quality_multipliers": _multipliers(qualities, "quality multipliers"),
        },
    )
    added = await providers.create(
        session, viewer.principal, availability_for(resources_of(request).redis), body
    )
    return _done(f"Added {_name(added)}")


def _name(model: ProviderRead) -> str:
    return f"{model.provider_name}/{model.model_name}"


def _done(message: str) -> RedirectResponse:
    return RedirectResponse(f"/models?done={quote(message)}", status_code=303)


def _decimal(text: str, what: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValidationFailed(f"The {what} must be a number, e.g. 0.04.", field=what) from None


def _multipliers(text: str, what: str) -> dict[str, str]:
    """``1024x1024=1, 1792x1024=2`` (commas or new lines between) as the API's mapping."""
    pairs: dict[str, str] = {}
    for part in filter(str.strip, re.split(r"[,\n]", text)):
        matched = _PAIR.match(part)
        if matched is None:
            raise ValidationFailed(f"Write the {what} as name=factor, e.g. hd=2, one per comma.", field=what)
        pairs[matched[1]] = matched[2]
    return pairs


def _valid(schema: type[Schema], values: dict[str, object]) -> Schema:
    try:
        return schema.model_validate(values)
    except ValidationError as error:
        fields = ", ".join(sorted({str(e["loc"][0]).replace("_", " ") for e in error.errors()}))
        raise ValidationFailed(f"Some values are not valid: {fields}.") from None

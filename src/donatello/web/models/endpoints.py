"""Models and prices: what each model costs per image and how size and quality change it, whether it is
running; everyone sees the active models (administrators the inactive ones too, and why a model is not
available), as ``GET /v1/providers``. A super admin also changes them here — price, multipliers, pause and
resume, trying an unavailable model again, a new model — through the providers API's own
``providers.service`` (audited per field); anyone else gets no controls and a 403."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.core.errors import DomainError, ValidationFailed
from donatello.core.pagination import MAX_LIMIT
from donatello.dependencies import DbSession, resources_of
from donatello.providers import service as providers
from donatello.providers.availability import availability_for
from donatello.providers.schemas import ProviderCreate, ProviderRead, ProviderUpdate
from donatello.tenancy import Action, Permission
from donatello.web.dependencies import SignedInViewer, Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Changing = Annotated[Viewer, Depends(requiring(Action.MANAGE_MODELS, changes_state=True))]
Text = Annotated[str, Form(max_length=500)]
_PAIR = re.compile(r"^\s*([^=\s]+)\s*=\s*([0-9.]+)\s*$")
#: the API's field (and this page's own checks) -> the form's
FIELDS = {
    "size multipliers": "sizes",
    "quality multipliers": "qualities",
    "size_multipliers": "sizes",
    "quality_multipliers": "qualities",
    "cost_per_image_aud": "price",
    "cost_per_image": "price",
    "api_endpoint": "endpoint",
}
HINTS = {
    "price": "Give the price of one image as a number more than 0, e.g. 0.04.",
    "sizes": "Write the size multipliers as size=factor, e.g. 1024x1024=1, 1792x1024=2.",
    "qualities": "Write the quality multipliers as quality=factor, e.g. standard=1, hd=2.",
    "provider_name": "Give the provider in lower case, e.g. azure-openai.",
    "model_name": "Give the model's name, e.g. gpt-image-1.5.",
    "endpoint": "Give the model's https:// address.",
}


@router.get("/models", response_class=HTMLResponse)
async def models(
    request: Request, viewer: SignedInViewer, session: DbSession, done: str = ""
) -> HTMLResponse:
    return await _page(request, viewer, session, done=done[:200])


async def _page(
    request: Request, viewer: Viewer, session: DbSession, *, done: str = "", form: FormState | None = None
) -> HTMLResponse:
    listed = await providers.list_providers(
        session, viewer.principal, availability_for(resources_of(request).redis), None, MAX_LIMIT
    )
    form = form or FormState()
    return page(
        request,
        "models.html",
        status=form.status,
        form=form,
        viewer=viewer,
        models=listed.items,
        editing=viewer.can(Permission.PROVIDERS_MANAGE),
        done=done,
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
) -> HTMLResponse | RedirectResponse:
    """Price per image (in the model's pricing currency) and the size and quality multipliers; a value
    refused is that model's form again, as typed."""
    availability = availability_for(resources_of(request).redis)
    current = await providers.get(session, viewer.principal, availability, provider_id)
    form = FormState(f"model-{provider_id}", {"price": price, "sizes": sizes, "qualities": qualities})
    try:
        changes: dict[str, object] = {
            "size_multipliers": _multipliers(sizes, "size multipliers"),
            "quality_multipliers": _multipliers(qualities, "quality multipliers"),
        }
        if current.pricing_unit == "image":  # token prices are set through the API
            amount = _decimal(price, "price")
            changes["cost_per_image_aud" if current.pricing_currency == "AUD" else "cost_per_image"] = amount
        body = ProviderUpdate.model_validate(changes)
        async with session.begin_nested():
            changed = await providers.update(session, viewer.principal, availability, provider_id, body)
    except (ValidationError, DomainError) as error:
        return await _page(request, viewer, session, form=form.rejecting(error, fields=FIELDS, hints=HINTS))
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
) -> HTMLResponse | RedirectResponse:
    """A new model priced in AUD (foreign-priced models and runtime configuration: the API)."""
    typed = {
        "provider_name": provider_name,
        "model_name": model_name,
        "endpoint": endpoint,
        "price": price,
        "sizes": sizes,
        "qualities": qualities,
    }
    try:
        body = ProviderCreate.model_validate(
            {
                "provider_name": provider_name.strip(),
                "model_name": model_name.strip(),
                "api_endpoint": endpoint.strip(),
                "cost_per_image_aud": _decimal(price, "price"),
                "size_multipliers": _multipliers(sizes, "size multipliers"),
                "quality_multipliers": _multipliers(qualities, "quality multipliers"),
            }
        )
        async with session.begin_nested():
            added = await providers.create(
                session, viewer.principal, availability_for(resources_of(request).redis), body
            )
    except (ValidationError, DomainError) as error:
        rejected = FormState("add", typed).rejecting(error, fields=FIELDS, hints=HINTS)
        return await _page(request, viewer, session, form=rejected)
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
            raise ValidationFailed(
                f"Write the {what} as name=factor, e.g. hd=2, separated by commas; {part.strip()!r} is not.",
                field=what,
            )
        pairs[matched[1]] = matched[2]
    return pairs

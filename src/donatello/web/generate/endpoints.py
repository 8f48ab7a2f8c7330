"""The Generate page (home): the form with live prices and budget, admission through the API's own
service, and the progress card the page polls until the generation ends."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from donatello.auth import mfa
from donatello.budgets import service as budgets
from donatello.core.errors import DomainError
from donatello.dependencies import DbSession, resources_of
from donatello.generations import admission, queries
from donatello.generations.dependencies import AdmissionContext, Images
from donatello.generations.schemas import GenerationCreate, Quality, Size
from donatello.pricing.service import bound_of_bytes, input_text_bound
from donatello.providers import candidates, priced_offers
from donatello.providers.availability import availability_for
from donatello.tenancy import Permission
from donatello.web import messages
from donatello.web.dependencies import SignedIn, Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

SIZES: list[str] = ["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"]
FINAL = {"completed", "failed", "cancelled"}
Generator = Annotated[Viewer, Depends(requiring(Permission.GENERATIONS_CREATE))]
GeneratorPosting = Annotated[Viewer, Depends(requiring(Permission.GENERATIONS_CREATE, changes_state=True))]


#: the most UTF-8 bytes a prompt and a negative prompt can take (4 bytes a character)
PromptBytes = Annotated[int, Query(ge=0, le=(4000 + 2000) * 4)]


async def _options(
    request: Request, session: DbSession, size: str, quality: str, n: int, input_bound: int
) -> list[Any]:
    redis = resources_of(request).redis
    return await priced_offers(session, size, quality, n, availability_for(redis), input_bound)


async def _quote(
    request: Request,
    session: DbSession,
    viewer: Viewer,
    model: str,
    size: str,
    quality: str,
    n: int,
    input_bound: int,
) -> dict[str, Any]:
    """What the request would hold, by the rules admission uses (the model ``auto`` would pick); for a
    model billed by tokens, the most it can cost with a prompt of this length."""
    try:
        offered = await candidates(
            session,
            viewer.principal.department_id,
            model,
            size,
            quality,
            n,
            user_id=viewer.principal.user_id,
            availability=availability_for(resources_of(request).redis),
            input_bound=input_bound,
        )
    except DomainError as error:
        return {"error": messages.explain(error).message if error.status != 404 else error.detail}
    first = offered[0]
    return {
        "error": None,
        "model": first.name,
        "unit": first.quote.unit_price_aud,
        "total": first.quote.total_aud,
        "maximum": first.quote.is_maximum,
    }


def _form_values(**values: Any) -> dict[str, Any]:
    defaults = {
        "prompt": "",
        "negative_prompt": "",
        "model": "auto",
        "size": "1024x1024",
        "quality": "standard",
        "n": 1,
        "style": "",
    }
    return {**defaults, **{k: v for k, v in values.items() if v is not None}}


async def _generate_page(
    request: Request,
    session: DbSession,
    viewer: Viewer,
    values: dict[str, Any],
    *,
    status: int = 200,
    problem: messages.Explanation | None = None,
    generation: Any = None,
) -> HTMLResponse:
    size, quality, n = values["size"], values["quality"], int(values["n"])
    bound = input_text_bound(values["prompt"], values["negative_prompt"])
    return page(
        request,
        "generate.html",
        status=status,
        viewer=viewer,
        values=values,
        sizes=SIZES,
        hd_allowed=viewer.can(Permission.GENERATIONS_HD),
        offers=await _options(request, session, size, quality, n, bound),
        quote=await _quote(request, session, viewer, values["model"], size, quality, n, bound),
        budget=await budgets.available_to_requester(session, viewer.principal),
        problem=problem,
        generation=generation,
        idempotency_key=secrets.token_urlsafe(16),
    )


@router.get("/", response_model=None)
async def generate_page(
    request: Request,
    viewer: SignedIn,
    session: DbSession,
    store: Images,
    generation: uuid.UUID | None = None,
) -> Response:
    """Home. Someone who may not generate (finance) goes to the first page their role shows."""
    if not viewer.can(Permission.GENERATIONS_CREATE):
        return RedirectResponse(viewer.navigation[0].href if viewer.navigation else "/usage", status_code=303)
    shown = (
        await queries.read(await queries.visible(session, viewer.principal, generation), store)
        if generation
        else None
    )
    return await _generate_page(request, session, viewer, _form_values(), generation=shown)


@router.post("/generate", response_model=None)
async def generate(
    request: Request,
    viewer: GeneratorPosting,
    session: DbSession,
    context: AdmissionContext,
    prompt: Annotated[str, Form(max_length=4000)] = "",
    negative_prompt: Annotated[str, Form(max_length=2000)] = "",
    model: Annotated[str, Form(max_length=151)] = "auto",
    size: Annotated[Size, Form()] = "1024x1024",
    quality: Annotated[Quality, Form()] = "standard",
    n: Annotated[int, Form(ge=1, le=4)] = 1,
    style: Annotated[str, Form(max_length=20)] = "",
    idempotency_key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Admit the generation exactly as ``POST /v1/generations`` does; a refusal re-shows the form."""
    values = _form_values(
        prompt=prompt,
        negative_prompt=negative_prompt,
        model=model,
        size=size,
        quality=quality,
        n=n,
        style=style,
    )
    try:
        body = GenerationCreate(
            prompt=prompt,
            negative_prompt=negative_prompt or None,
            model=model or "auto",
            size=size,
            quality=quality,
            n=n,
            style=style or None,
        )
    except ValidationError:
        problem = messages.Explanation(
            "The request is incomplete",
            "Describe the image you want in the prompt.",
            "Write a prompt, then Generate.",
        )
        return await _generate_page(request, session, viewer, values, status=422, problem=problem)
    # A savepoint around admission: a refusal that is itself a fact (an audited hard-budget refusal)
    # is kept, anything else it wrote is undone, and the form is shown again with the reason.
    attempt = await session.begin_nested()
    try:
        mfa.ensure_may_generate(viewer.principal)  # the API's CanGenerate rule
        generation = await admission.request(
            session, viewer.principal, body, f"web:{idempotency_key}" if idempotency_key else None, context
        )
    except DomainError as error:
        await (attempt.commit() if error.keeps_transaction else attempt.rollback())
        return await _generate_page(
            request, session, viewer, values, status=error.status, problem=messages.explain(error)
        )
    await attempt.commit()
    return RedirectResponse(f"/?generation={generation.id}#progress", status_code=303)


@router.get("/generate/quote", response_class=HTMLResponse)
async def quote_fragment(
    request: Request,
    viewer: Generator,
    session: DbSession,
    model: Annotated[str, Query(max_length=151)] = "auto",
    size: Size = "1024x1024",
    quality: Quality = "standard",
    n: Annotated[int, Query(ge=1, le=4)] = 1,
    prompt_bytes: PromptBytes = 0,
) -> HTMLResponse:
    """The quote as the form changes. The page sends the prompt's length in bytes, never the prompt."""
    bound = bound_of_bytes(prompt_bytes)
    return page(
        request,
        "partials/quote.html",
        viewer=viewer,
        quote=await _quote(request, session, viewer, model, size, quality, n, bound),
        budget=await budgets.available_to_requester(session, viewer.principal),
    )


@router.get("/generate/models", response_class=HTMLResponse)
async def model_options(
    request: Request,
    viewer: Generator,
    session: DbSession,
    size: Size = "1024x1024",
    quality: Quality = "standard",
    n: Annotated[int, Query(ge=1, le=4)] = 1,
    selected: Annotated[str, Query(max_length=151)] = "auto",
    prompt_bytes: PromptBytes = 0,
) -> HTMLResponse:
    return page(
        request,
        "partials/model_options.html",
        offers=await _options(request, session, size, quality, n, bound_of_bytes(prompt_bytes)),
        selected=selected,
    )


@router.get("/generations/{generation_id}/card", response_class=HTMLResponse)
async def progress_card(
    request: Request, generation_id: uuid.UUID, viewer: SignedIn, session: DbSession, store: Images
) -> HTMLResponse:
    """The card the page polls: pending/processing, then the images, the failure or the cancellation."""
    generation = await queries.read(await queries.visible(session, viewer.principal, generation_id), store)
    return page(request, "partials/generation_card.html", viewer=viewer, generation=generation, final=FINAL)

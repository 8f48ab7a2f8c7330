"""The Generate page (home): the form with live prices and budget, admission through the API's own
service, and the progress card the page polls until the generation ends."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from donatello.auth import mfa
from donatello.budgets import service as budgets
from donatello.core.errors import DomainError
from donatello.dependencies import DbSession, resources_of
from donatello.generations import admission, queries
from donatello.generations.dependencies import AdmissionContext, Images, Sealer
from donatello.generations.schemas import GenerationCreate, Quality, Size
from donatello.models import Department
from donatello.pricing.service import bound_of_bytes, input_text_bound
from donatello.providers import candidates, priced_offers
from donatello.providers.availability import availability_for
from donatello.providers.selection import offered_options
from donatello.tenancy import Action, Permission, scoped_get
from donatello.web import messages
from donatello.web.dependencies import SignedInViewer, Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the order the form lists them in, and the words a person reads
SIZES: tuple[str, ...] = get_args(Size)
QUALITY_LABELS = {
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "auto": "Auto (the model decides)",
    "standard": "Standard",
    "hd": "HD",
}
#: what a valid value looks like, beside the field the request model refused
HINTS = {
    "prompt": "Describe the image you want (at most 4,000 characters).",
    "negative_prompt": "Keep the negative prompt to 2,000 characters at most.",
    "model": "Choose a model from the list, or Automatic.",
}
HIGH_QUALITIES = {"hd", "high"}  # for those allowed HD generations
FINAL = {"completed", "failed", "cancelled"}
Generator = Annotated[Viewer, Depends(requiring(Action.QUOTE))]
#: sending one: the API's ``CanGenerate`` (the permission, and MFA once the grace period has ended)
GeneratorPosting = Annotated[Viewer, Depends(requiring(Action.GENERATE, changes_state=True))]
Reader = Annotated[Viewer, Depends(requiring(Action.READ_GENERATIONS))]


#: the most UTF-8 bytes a prompt and a negative prompt can take (4 bytes a character)
PromptBytes = Annotated[int, Query(ge=0, le=(4000 + 2000) * 4)]


async def _options(
    request: Request, session: DbSession, size: str, quality: str, n: int, input_bound: int
) -> list[Any]:
    redis = resources_of(request).redis
    return await priced_offers(session, size, quality, n, availability_for(redis), input_bound)


async def _choices(request: Request, session: DbSession) -> dict[str, tuple[list[str], list[str]]]:
    """Each model that could run now -> (sizes, qualities) it offers; ``auto`` -> what any of them does.
    The form lists the union; its script narrows the lists to the chosen model's (``data-sizes``)."""
    offered = await offered_options(session, availability_for(resources_of(request).redis))
    choices = {name: (list(sizes), list(qualities)) for name, (sizes, qualities) in offered.items()}
    every_size = {size for sizes, _ in choices.values() for size in sizes}
    every_quality = {quality for _, qualities in choices.values() for quality in qualities}
    choices["auto"] = (
        [size for size in SIZES if size in every_size],
        [quality for quality in QUALITY_LABELS if quality in every_quality],
    )
    return choices


def _explain(error: DomainError, department: str | None = None) -> messages.Explanation:
    """A size or quality the chosen model does not offer is a form mistake, said as one; a department
    without a budget is named, with who can set one."""
    if error.type == "budget-not-configured":
        return messages.no_budget(department)
    if error.type == "unsupported-option":
        option = str(error.extensions.get("field", "option"))
        offered = [
            QUALITY_LABELS.get(value, value) if option == "quality" else _size_label(value)
            for value in error.extensions.get("supported", [])
        ]
        model = error.detail.split(" does not support", 1)[0]
        return messages.Explanation(
            f"That model does not offer this {option}",
            f"{model} offers {option} {', '.join(offered) or 'none'}.",
            f"Choose one of those, or choose another model (Automatic picks one that offers your {option}).",
        )
    return messages.explain(error)


def _ask_from(error: DomainError | None) -> dict[str, str] | None:
    """A budget or cap refusal lets its person ask for what they were short of, quoting the refusal."""
    if error is None or error.type not in {"budget-exceeded", "user-cap-exceeded"}:
        return None
    refusal_id = error.extensions.get("refusal_id")
    if not refusal_id:
        return None
    return {
        "refusal_id": str(refusal_id),
        "amount_aud": str(error.extensions.get("shortfall_aud", "")),
        "reason": "",
    }


def _size_label(size: str) -> str:
    return "Auto (the model decides)" if size == "auto" else size.replace("x", " \u00d7 ")


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
        department = await _department_name(session, viewer)
        return {"error": _explain(error, department).message if error.status != 404 else error.detail}
    first = offered[0]
    return {
        "error": None,
        "model": first.name,
        "unit": first.quote.unit_price_aud,
        "total": first.quote.total_aud,
        "maximum": first.quote.is_maximum,
    }


async def _department_name(session: DbSession, viewer: Viewer) -> str | None:
    department_id = viewer.principal.department_id
    if department_id is None:
        return None
    return (await scoped_get(session, viewer.principal, Department, department_id)).name


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
    refused: DomainError | None = None,
    generation: Any = None,
    form: FormState | None = None,
) -> HTMLResponse:
    size, quality, n = values["size"], values["quality"], int(values["n"])
    bound = input_text_bound(values["prompt"], values["negative_prompt"])
    if problem is None and (mfa_refusal := mfa.refusal(viewer.principal)) is not None:
        problem = messages.explain(mfa_refusal)  # said before anything is typed, not after sending
    return page(
        request,
        "generate.html",
        status=status,
        viewer=viewer,
        values=values,
        choices=(choices := await _choices(request, session)),
        sizes=choices["auto"][0],
        qualities=[
            (quality, QUALITY_LABELS[quality])
            for quality in choices["auto"][1]
            if quality not in HIGH_QUALITIES or viewer.can(Permission.GENERATIONS_HD)
        ],
        size_label=_size_label,
        hd_allowed=viewer.can(Permission.GENERATIONS_HD),
        offers=await _options(request, session, size, quality, n, bound),
        quote=await _quote(request, session, viewer, values["model"], size, quality, n, bound),
        budget=await budgets.available_to_requester(session, viewer.principal),
        department=await _department_name(session, viewer),
        problem=problem,
        ask=_ask_from(refused),
        problems={},
        form=form or FormState("", values),
        generation=generation,
        idempotency_key=secrets.token_urlsafe(16),
    )


@router.get("/", response_model=None)
@router.get("/generate", response_model=None)
async def generate_page(
    request: Request,
    viewer: SignedInViewer,  # everyone's home: those who do not generate are sent to their own page
    session: DbSession,
    store: Images,
    sealer: Sealer,
    generation: uuid.UUID | None = None,
    again: uuid.UUID | None = None,
) -> Response:
    """Generate; ``/`` is also everyone's home, so a role whose own page is another one (a manager's
    dashboard, finance's budgets) goes there — unless it is a generation to follow or to generate again.
    After sending (``generation``), the form holds what was sent (prompt included, for its owner), so
    trying a variation does not mean typing it again; ``again`` fills the form the same way from a past
    generation (from its gallery page), without its progress card."""
    home = viewer.home.href
    source = generation or again
    if not viewer.can(Permission.GENERATIONS_CREATE) or (
        request.url.path == "/" and source is None and home != "/generate"
    ):
        return RedirectResponse(home, status_code=303)
    if viewer.principal.department_id is None:
        return page(request, "generate_unavailable.html", viewer=viewer)
    if source is None:
        return await _generate_page(request, session, viewer, _form_values())
    row = await queries.visible(session, viewer.principal, source)
    shown = await queries.read_placed(session, row, store, resources_of(request).settings)
    prompt = negative_prompt = None
    if row.user_id == viewer.principal.user_id:  # never someone else's prompt (reading it is audited)
        sent = await queries.prompt(session, viewer.principal, sealer, row.id)
        prompt, negative_prompt = sent.prompt, sent.negative_prompt
    if generation is not None and prompt is None:
        return await _generate_page(request, session, viewer, _form_values(), generation=shown)
    values = _form_values(
        prompt=prompt,
        negative_prompt=negative_prompt,
        model=shown.requested_model,
        size=shown.size,
        quality=shown.quality,
        n=shown.n,
        style=row.details.get("style"),
    )
    return await _generate_page(request, session, viewer, values, generation=shown if generation else None)


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
    except ValidationError as error:
        form = FormState("", values).rejecting(error, hints=HINTS)
        return await _generate_page(request, session, viewer, values, status=422, form=form)
    # A savepoint around admission: a refusal that is itself a fact (an audited hard-budget refusal)
    # is kept, anything else it wrote is undone, and the form is shown again with the reason.
    attempt = await session.begin_nested()
    try:
        generation = await admission.request(
            session, viewer.principal, body, f"web:{idempotency_key}" if idempotency_key else None, context
        )
    except DomainError as error:
        await (attempt.commit() if error.keeps_transaction else attempt.rollback())
        if error.type == "unsupported-option":  # a form mistake: said beside the size or quality
            said = _explain(error)  # its title heads the summary; its message sits beside the field
            form = FormState("", values).rejecting(error, words={error.type: said.message})
            return await _generate_page(request, session, viewer, values, status=422, form=form, problem=said)
        problem = _explain(error, await _department_name(session, viewer))
        return await _generate_page(
            request, session, viewer, values, status=error.status, problem=problem, refused=error
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
        department=await _department_name(session, viewer),
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
        choices=await _choices(request, session),
        selected=selected,
    )


@router.get("/generations/{generation_id}/card", response_class=HTMLResponse)
async def progress_card(
    request: Request, generation_id: uuid.UUID, viewer: Reader, session: DbSession, store: Images
) -> HTMLResponse:
    """The card the page polls: its place in line and estimated start while pending, processing, then the
    images, the failure or the cancellation."""
    visible = await queries.visible(session, viewer.principal, generation_id)
    generation = await queries.read_placed(session, visible, store, resources_of(request).settings)
    return page(request, "partials/generation_card.html", viewer=viewer, generation=generation, final=FINAL)

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from donatello.audit.backlog import AuditBacklogFull
from donatello.auth.dependencies import CanGenerate
from donatello.budgets.errors import BudgetExceeded, BudgetNotConfigured, NoDepartment, UserCapExceeded
from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.generations import admission, lifecycle, queries
from donatello.generations.dependencies import (
    AdmissionContext,
    CanActOnGenerations,
    CanReadGenerations,
    Configured,
    IdempotencyKey,
    Images,
    Sealer,
)
from donatello.generations.errors import BatchTooLarge, IdempotencyKeyReused, NotCancellable
from donatello.generations.schemas import (
    BatchCreate,
    BatchRead,
    GenerationCreate,
    GenerationRead,
    PromptHistoryItem,
    PromptRead,
    Status,
    UsageStats,
)
from donatello.openapi import problem_responses
from donatello.ratelimit import RateLimited

router = APIRouter(tags=["generations"])

_DATE_RULE = "a YYYY-MM-DD local day in the organization's time zone, or an ISO datetime"
DateFrom = Annotated[str | None, Query(alias="from", max_length=40, description=f"From: {_DATE_RULE}")]
DateTo = Annotated[
    str | None, Query(alias="to", max_length=40, description=f"To: {_DATE_RULE} (a day is included)")
]

ADMISSION_ERRORS = problem_responses(
    Unauthenticated,
    Forbidden,
    NoDepartment,
    BudgetExceeded,
    UserCapExceeded,
    BudgetNotConfigured,
    RateLimited,
    IdempotencyKeyReused,
    ValidationFailed,
    AuditBacklogFull,
)


@router.post("/generations", status_code=202, response_model=GenerationRead, responses=ADMISSION_ERRORS)
async def request_generation(
    body: GenerationCreate,
    principal: CanGenerate,
    session: DbSession,
    context: AdmissionContext,
    store: Images,
    idempotency_key: IdempotencyKey = None,
) -> GenerationRead:
    """Accept a generation: priced, held against the department's budget, queued. Poll its URL."""
    generation = await admission.request(session, principal, body, idempotency_key, context)
    return await queries.read(generation, store)  # its place in line: on its URL (admission stays lean)


@router.get(
    "/generations",
    response_model=Page[GenerationRead],
    responses=problem_responses(Forbidden, ValidationFailed),
)
async def list_generations(
    principal: CanReadGenerations,
    session: DbSession,
    store: Images,
    settings: Configured,
    department_id: uuid.UUID | None = None,
    status: Status | None = None,
    model: Annotated[str | None, Query(max_length=151)] = None,
    created_from: DateFrom = None,
    created_to: DateTo = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[GenerationRead]:
    """Your generations, newest first; with ``department_id``, a department's (its manager, org admins)."""
    return await queries.history(
        session,
        principal,
        store,
        settings=settings,
        department_id=department_id,
        status=status,
        model=model,
        created_from=created_from,
        created_to=created_to,
        cursor=cursor,
        limit=limit,
    )


@router.get("/generations/stats", response_model=UsageStats, responses=problem_responses(ValidationFailed))
async def my_usage(
    principal: CanReadGenerations,
    session: DbSession,
    created_from: DateFrom = None,
    created_to: DateTo = None,
) -> UsageStats:
    """Your totals over your history (deleted generations left out): generations by outcome, images,
    average generation time, and the ledger's spend (a deletion refunds nothing)."""
    return await queries.usage(session, principal, created_from, created_to)


@router.get("/generations/prompts", response_model=Page[PromptHistoryItem])
async def my_prompt_history(
    principal: CanReadGenerations,
    session: DbSession,
    sealer: Sealer,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[PromptHistoryItem]:
    """Your prompt history, newest first (decrypted for you only)."""
    return await queries.prompt_history(session, principal, sealer, cursor, limit)


@router.get(
    "/generations/{generation_id}", response_model=GenerationRead, responses=problem_responses(NotFound)
)
async def get_generation(
    generation_id: uuid.UUID,
    principal: CanReadGenerations,
    session: DbSession,
    store: Images,
    settings: Configured,
) -> GenerationRead:
    """Status, image and thumbnail links (short-lived), cost and timings; while it waits, its place in
    the queue and an estimated start."""
    generation = await queries.visible(session, principal, generation_id)
    return await queries.read_placed(session, generation, store, settings)


@router.get(
    "/generations/{generation_id}/prompt",
    response_model=PromptRead,
    responses=problem_responses(NotFound, Forbidden),
)
async def read_prompt(
    generation_id: uuid.UUID, principal: CanActOnGenerations, session: DbSession, sealer: Sealer
) -> PromptRead:
    """The prompt, for its owner; an org admin may read it too, and that read is audited."""
    return await queries.prompt(session, principal, sealer, generation_id)


@router.post(
    "/generations/{generation_id}/cancel",
    response_model=GenerationRead,
    responses=problem_responses(NotFound, Forbidden, NotCancellable),
)
async def cancel_generation(
    generation_id: uuid.UUID, principal: CanActOnGenerations, session: DbSession, store: Images
) -> GenerationRead:
    """Stop a pending or running generation: nothing is charged and the hold is released."""
    return await queries.read(await lifecycle.cancel(session, principal, generation_id), store)


@router.delete(
    "/generations/{generation_id}", status_code=204, responses=problem_responses(NotFound, Forbidden)
)
async def delete_generation(
    generation_id: uuid.UUID, principal: CanActOnGenerations, session: DbSession
) -> Response:
    """Remove it from your history (soft delete); an unfinished one is cancelled first."""
    await lifecycle.delete(session, principal, generation_id)
    return Response(status_code=204)


@router.post(
    "/generation-batches",
    status_code=202,
    response_model=BatchRead,
    responses={**ADMISSION_ERRORS, **problem_responses(BatchTooLarge)},
)
async def request_batch(
    body: BatchCreate,
    principal: CanGenerate,
    session: DbSession,
    context: AdmissionContext,
    idempotency_key: IdempotencyKey = None,
) -> BatchRead:
    """Accept several generations at once: the whole batch is held against the budget, or none of it."""
    batch = await admission.request_batch(session, principal, body, idempotency_key, context)
    return await queries.batch(session, principal, batch.id)


@router.get("/generation-batches/{batch_id}", response_model=BatchRead, responses=problem_responses(NotFound))
async def get_batch(batch_id: uuid.UUID, principal: CanReadGenerations, session: DbSession) -> BatchRead:
    """Progress: how many are pending, processing, completed, failed or cancelled."""
    return await queries.batch(session, principal, batch_id)

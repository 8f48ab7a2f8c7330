from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile

from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession, resources_of
from donatello.openapi import problem_responses
from donatello.reconciliation import queries, service, tables
from donatello.reconciliation.dependencies import CanReconcile
from donatello.reconciliation.errors import FileTooLarge, InvalidReconciliation, UnreadableFile
from donatello.reconciliation.schemas import (
    ComparedRow,
    ProviderLine,
    ProviderLinePage,
    ReconciliationDetail,
    ReconciliationRead,
    ReconciliationSettings,
)

router = APIRouter(prefix="/reconciliations", tags=["reconciliations"])
settings_router = APIRouter(prefix="/reconciliation-settings", tags=["reconciliations"])
READ_ERRORS = problem_responses(Unauthenticated, Forbidden, NotFound, ValidationFailed)
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.post(
    "",
    status_code=201,
    response_model=ReconciliationRead,
    responses={
        200: {"model": ReconciliationRead, "description": "This file was imported before: nothing changed"},
        202: {"model": ReconciliationRead, "description": "A large file: compared by a background job"},
        **problem_responses(Unauthenticated, Forbidden, InvalidReconciliation, UnreadableFile, FileTooLarge),
    },
)
async def create_reconciliation(
    request: Request,
    response: Response,
    principal: CanReconcile,
    session: DbSession,
    file: Annotated[
        UploadFile, File(description="The provider's cost file (FOCUS CSV/Parquet or generic CSV)")
    ],
    provider: Annotated[str, Form(description="The provider billed, e.g. azure-openai")],
    format: Annotated[str, Form(description="focus (FOCUS 1.x, CSV or Parquet) or generic (CSV)")],
    period: Annotated[
        str | None, Form(description="YYYY-MM or YYYY-MM-DD..YYYY-MM-DD; default: the days the file covers")
    ] = None,
) -> ReconciliationRead:
    """Import a provider's cost file and compare it with the ledger per local day and model. Files up to
    ``reconciliation_inline_max_bytes`` (8 MiB) are compared at once (201); larger ones, up to
    ``reconciliation_max_upload_bytes`` (4 GiB), are queued for the worker (202); past that, 413 as the
    body arrives (this route has its own body cap, not the API's 1 MiB)."""
    state = resources_of(request)
    reconciliation, created = await service.accept(
        session,
        principal,
        state.settings,
        state.image_store,
        file.file,
        file.filename or "upload",
        provider,
        format,
        period,
    )
    response.status_code = 202 if reconciliation.status == "queued" and created else 201 if created else 200
    return ReconciliationRead.model_validate(reconciliation)


@router.get("", response_model=Page[ReconciliationRead], responses=READ_ERRORS)
async def list_reconciliations(
    principal: CanReconcile, session: DbSession, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> Page[ReconciliationRead]:
    """The organization's reconciliations, newest first."""
    found, next_cursor = await queries.listing(session, principal, cursor, limit)
    return Page(items=[ReconciliationRead.model_validate(r) for r in found], next_cursor=next_cursor)


@router.get("/{reconciliation_id}", response_model=ReconciliationDetail, responses=READ_ERRORS)
async def get_reconciliation(
    reconciliation_id: uuid.UUID,
    principal: CanReconcile,
    session: DbSession,
    rows: Annotated[
        str, Query(pattern="^(flagged|all)$", description="flagged (default) or all")
    ] = "flagged",
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ReconciliationDetail:
    """The summary and the day x model rows beyond tolerance (``rows=all``: every row), in day order."""
    reconciliation = await queries.find(session, principal, reconciliation_id)
    found, next_cursor = await queries.rows(
        session, reconciliation, flagged_only=rows == "flagged", cursor=cursor, limit=limit
    )
    return ReconciliationDetail(
        reconciliation=ReconciliationRead.model_validate(reconciliation),
        rows=[ComparedRow.model_validate(row) for row in found],
        next_cursor=next_cursor,
    )


@router.get("/{reconciliation_id}/unmapped", response_model=ProviderLinePage, responses=READ_ERRORS)
async def unmapped_lines(
    reconciliation_id: uuid.UUID,
    principal: CanReconcile,
    session: DbSession,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ProviderLinePage:
    """Provider lines left out of the comparison: unmapped, without an FX rate, or outside the period."""
    reconciliation = await queries.find(session, principal, reconciliation_id)
    found, next_cursor = await queries.unlisted_lines(session, reconciliation, cursor, limit)
    return ProviderLinePage(
        items=[ProviderLine.model_validate(line) for line in found], next_cursor=next_cursor
    )


@router.get(
    "/{reconciliation_id}/comparison.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **READ_ERRORS},
)
async def comparison_csv(
    reconciliation_id: uuid.UUID, principal: CanReconcile, session: DbSession
) -> Response:
    """Every day x model row, then every provider line with the FX rate used, as CSV."""
    reconciliation = await queries.find(session, principal, reconciliation_id)
    rows, lines = await queries.comparison_table(session, reconciliation)
    return Response(
        tables.to_csv(rows, lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="reconciliation-{reconciliation.id}.csv"'},
    )


@settings_router.get("", response_model=ReconciliationSettings, responses=READ_ERRORS)
async def get_reconciliation_settings(principal: CanReconcile, session: DbSession) -> ReconciliationSettings:
    """How this organization's provider lines map to our models, and the drift tolerated."""
    return await queries.current_settings(session, principal)


@settings_router.put(
    "",
    response_model=ReconciliationSettings,
    responses=problem_responses(Unauthenticated, Forbidden, ValidationFailed, InvalidReconciliation),
)
async def put_reconciliation_settings(
    body: ReconciliationSettings, principal: CanReconcile, session: DbSession
) -> ReconciliationSettings:
    """Replace the mapping and tolerances used by the next imports (earlier ones keep theirs)."""
    return await queries.change_settings(session, principal, body)

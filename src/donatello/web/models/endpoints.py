"""Models and prices: what each model costs per image and how size and quality change it, whether it is
running; everyone sees the active models (administrators the inactive ones too), as ``GET /v1/providers``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from donatello.core.pagination import MAX_LIMIT
from donatello.dependencies import DbSession, resources_of
from donatello.providers import service as providers
from donatello.providers.availability import availability_for
from donatello.web.dependencies import SignedIn, WebRoute, page

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/models", response_class=HTMLResponse)
async def models(request: Request, viewer: SignedIn, session: DbSession) -> HTMLResponse:
    listed = await providers.list_providers(
        session, viewer.principal, availability_for(resources_of(request).redis), None, MAX_LIMIT
    )
    return page(request, "models.html", viewer=viewer, models=listed.items)

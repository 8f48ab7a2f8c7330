"""``GET /metrics``: the Prometheus text exposition (outside ``/v1``; scrape it from inside the
environment — Container Apps keeps it behind the internal ingress, see docs/deploy.md)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from donatello.dependencies import DbSession
from donatello.observability import service

router = APIRouter(tags=["observability"])


@router.get("/metrics", include_in_schema=False)
async def metrics(session: DbSession) -> Response:
    await service.refresh_gauges(session)
    body, content_type = service.scrape()
    return Response(body, media_type=content_type)

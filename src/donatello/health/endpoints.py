"""Liveness and readiness for the orchestrator (Container Apps / Kubernetes probes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from donatello.dependencies import resources_of
from donatello.health import service

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up and serving requests."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "A required dependency is not reachable"}})
async def ready(request: Request) -> JSONResponse:
    """Every configured dependency answers (database always; Redis and Cosmos when configured). Redis or
    the audit store away, or the audit relay behind, is ``degraded``: still ready, admission goes on."""
    checks: dict[str, Any] = await service.check_dependencies(resources_of(request))
    healthy = service.ready(checks)
    return JSONResponse(
        {"status": service.overall(checks), "checks": checks}, status_code=200 if healthy else 503
    )

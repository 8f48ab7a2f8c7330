"""The application: the lifespan opens the ``Resources``; middleware, error handlers and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from scim2_models import SCIMException
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from donatello import __version__, openapi
from donatello import worker as background
from donatello.api import api_router
from donatello.apidocs.endpoints import router as apidocs_router
from donatello.config import Settings, get_settings
from donatello.core import logging as app_logging
from donatello.core.errors import (
    HTTP_PROBLEMS,
    PROBLEM_BASE,
    DatabaseUnavailable,
    DomainError,
    json_decode_error,
)
from donatello.dependencies import REQUEST_GUARDS, AppState, other_media_type
from donatello.health.endpoints import router as health_router
from donatello.middleware import (
    PROBLEM_JSON,
    REQUEST_ID_HEADER,
    BodyLimitMiddleware,
    MetricsMiddleware,
    RequestIdMiddleware,
    scim_path,
)
from donatello.observability import tracing
from donatello.observability.endpoints import router as metrics_router
from donatello.provisioning.endpoints import router as scim_router
from donatello.provisioning.endpoints import scim_error
from donatello.resources import open_resources
from donatello.web import security as web_security
from donatello.web.dependencies import http_error_page
from donatello.web.endpoints import router as web_router
from donatello.web.headers import SecurityHeaders
from donatello.web.rendering import STATIC

log = logging.getLogger(__name__)

OPENAPI_TAGS: list[dict[str, Any]] = [
    {
        "name": "scim",
        "description": "SCIM 2.0 service provider (RFC 7643/7644) for Microsoft Entra ID's provisioning "
        "service. In the Entra enterprise app (Provisioning, Automatic): **Tenant URL** "
        "`https://<host>/scim/v2`, **Secret Token** the organization's `dsp_…` token (`POST "
        "/v1/provisioning/token` or `donatello scim issue-token --org <id or domain>`). Attribute "
        "mappings: `userPrincipalName`→`userName` (sign-in e-mail), `objectId`→`externalId`, "
        '`Switch([IsSoftDeleted], , "False", "True", "True", "False")`→`active`, `displayName`, '
        '`givenName`/`surname`→`name`, `mail`→`emails[type eq "work"].value`, `department`→enterprise '
        "`department`; groups `displayName`, `objectId`→`externalId`, `members`. Bodies and answers are "
        "`application/scim+json`; errors use the SCIM error schema. `active` false or DELETE revokes the "
        "user's sessions and API keys and disables their webhooks at once.",
    },
    {"name": "provisioning", "description": "Issue the organization's SCIM provisioning token."},
]


def app_from_environment() -> FastAPI:
    """The app of one server process of `donatello serve --workers N` (see ``donatello.cli.serving``):
    configured from the environment its parent prepared."""
    settings = get_settings()
    app_logging.configure(settings.log_level)
    return create_app(settings)


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None) -> FastAPI:
    """Build the API. Tests pass their own ``engine``; otherwise the lifespan opens the configured one."""
    settings = settings or get_settings()
    app_logging.stamp_records()
    web_security.local_sign_in_enabled(settings)  # refuses to start where local sign-in would be unsafe

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings, engine=engine) as resources:
            app.state = AppState(resources, {})
            if settings.in_process_worker:
                # The embedded default runs its background jobs here: one process, nothing to start.
                async with background.running(resources):
                    yield
            else:
                yield

    app = FastAPI(
        title="DonatelloAI",
        version=__version__,
        description="Governed, budgeted access to image-generation models for enterprises.",
        lifespan=lifespan,
        openapi_tags=OPENAPI_TAGS,
        dependencies=REQUEST_GUARDS,
        docs_url=None,  # served by apidocs, from the app itself
        redoc_url=None,
    )
    if settings.metrics_enabled:
        app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeaders, settings=settings)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestIdMiddleware)  # outermost: every log line of the request carries its id
    _install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(apidocs_router)
    if settings.metrics_enabled:
        app.include_router(metrics_router)
    tracing.install(app, settings, engine=engine)
    app.include_router(api_router)
    app.include_router(scim_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(web_router)  # the browser edge: pages over the same services
    _describe_answers(app)
    return app


def _describe_answers(app: FastAPI) -> None:
    """Serve an OpenAPI document that lists what each operation answers (donatello.openapi.complete)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = openapi.complete(schema, iter_route_contexts(app.routes))
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _problem(
    request: Request, body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body.setdefault("instance", request.url.path)
    body["request_id"] = request_id
    headers = dict(headers or {})
    if request_id:  # unexpected errors are rendered outside the request-id middleware
        headers[REQUEST_ID_HEADER] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _on_scim(request: Request) -> bool:
    return scim_path(request.url.path)


def printable(text: str) -> str:
    """``text`` as it can travel in a JSON response: NUL and unpaired surrogates escaped."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SCIMException)
    async def scim_exception(request: Request, exc: SCIMException) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if exc.status == 401 else None
        return scim_error(exc.status, exc.detail, exc.scim_type or None, headers)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        if _on_scim(request):
            return scim_error(exc.status, exc.detail, None, exc.headers())
        return _problem(request, exc.problem(), exc.status, exc.headers())

    # Registered for these classes (not left to the catch-all), so the response is rendered inside the
    # app and the client's keep-alive connection survives a database restart or fail-over.
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
        error = DatabaseUnavailable()
        return await domain_error(request, error)

    for outage in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(outage, database_unavailable)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _on_scim(request):
            detail = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
            )
            return scim_error(400, detail, "invalidValue")
        if (unsupported := other_media_type(request, exc.errors())) is not None:
            return await domain_error(request, unsupported)
        errors = [
            json_decode_error(error, exc.body)
            if error["type"] == "json_invalid"
            else {
                "field": ".".join(printable(str(part)) for part in error["loc"]),
                "message": error["msg"],
                "code": error["type"],
            }
            for error in exc.errors()
        ]
        body = {
            "type": PROBLEM_BASE + "validation-failed",
            "title": "The request is not valid",
            "status": 422,
            "detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            "errors": errors,
        }
        return _problem(request, body, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _on_scim(request):
            return scim_error(exc.status_code, str(exc.detail), None, dict(exc.headers or {}))
        if web_security.is_web_path(request.url.path):
            return await http_error_page(request, exc.status_code)  # a person's address: a page, not JSON
        kind, title = HTTP_PROBLEMS.get(exc.status_code, (f"http-{exc.status_code}", str(exc.detail)))
        body = {
            "type": PROBLEM_BASE + kind,
            "title": title,
            "status": exc.status_code,
            "detail": str(exc.detail),
        }
        return _problem(request, body, exc.status_code, dict(exc.headers or {}))

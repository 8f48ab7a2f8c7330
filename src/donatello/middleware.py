"""The app's ASGI middleware: request ids on every response and log line, the body-size cap, request
metrics — and the one 500 every unexpected error becomes (rendered here, so the connection survives)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from donatello.core import metrics, request_context
from donatello.core.errors import PROBLEM_BASE
from donatello.provisioning.endpoints import scim_error
from donatello.provisioning.resources import PREFIX as SCIM_PREFIX

log = logging.getLogger("donatello.main")

PROBLEM_JSON = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: The largest request body accepted (413 above it); JSON values inside are capped tighter by their schemas.
MAX_BODY_BYTES = 1_048_576
#: Routes that take a file larger than that, each with the setting that names its largest file: their body
#: may be that file plus ``FORM_OVERHEAD_BYTES`` (the multipart boundaries, part headers and small fields;
#: the route itself refuses a file over its maximum to the byte).
LARGE_UPLOADS = {
    ("POST", "/v1/reconciliations"): "reconciliation_max_upload_bytes",
    ("POST", "/reconciliations"): "reconciliation_max_upload_bytes",  # the same upload from its page
}
FORM_OVERHEAD_BYTES = 64 * 1024


def scim_path(path: str) -> bool:
    """``/scim/v2`` answers every error in the SCIM error schema (identity providers parse nothing else)."""
    return path == SCIM_PREFIX or path.startswith(SCIM_PREFIX + "/")


class RequestIdMiddleware:
    """Give every request an id (the caller's, when it is sane), echo it, and put it on every log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else f"req-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id
        headers = dict(scope["headers"])
        client = scope.get("client")
        token = request_context.bind(
            request_context.RequestContext(
                request_id=request_id,
                ip_address=client[0] if client else None,
                user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:512] or None,
            )
        )

        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = int(message["status"]), True
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Rendered here, not re-raised: an exception reaching the server after the 500 was sent makes
            # it drop the keep-alive connection, and its own log line would lack the request id.
            log.exception("unhandled error", extra={"route": route_template(scope)})
            if response_started:
                raise  # a response already under way cannot become a 500; the connection must end
            status = 500
            answer = (
                scim_error(500, "The request could not be completed; quote the request id to support.")
                if scim_path(scope["path"])
                else internal_error(request_id)
            )
            await answer(scope, receive, send)
        finally:
            # The access log: route template, never the raw path or query (ids, tokens in links).
            route = route_template(scope)
            quiet = route == "/metrics" or route.startswith("/health/")
            log.log(
                logging.DEBUG if quiet else logging.INFO,
                "request finished",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_context.unbind(token)


class BodyLimitMiddleware:
    """Refuse a request body over its cap (``MAX_BODY_BYTES``, or a large upload route's own) with a 413
    problem: at once when Content-Length says so, else as soon as the streamed body passes the cap —
    counted as it arrives, so nothing past the cap is read (the route then answers the 413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = body_cap(scope)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > cap:
            request_id = scope.get("state", {}).get("request_id", "")
            await too_large(request_id, scope.get("path", ""), cap)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > cap:
                raise StarletteHTTPException(413, f"The body is larger than the {cap} byte cap")
            return message

        await self.app(scope, counted, send)


def body_cap(scope: Scope) -> int:
    """The largest body this request may send: a large upload route's file maximum (read from the app's
    settings now, so a changed setting applies at once) plus the form around it, else the global cap."""
    setting = LARGE_UPLOADS.get((scope.get("method", ""), scope.get("path", "").rstrip("/")))
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    if setting is None or settings is None:
        return MAX_BODY_BYTES
    return max(MAX_BODY_BYTES, int(getattr(settings, setting)) + FORM_OVERHEAD_BYTES)


def too_large(request_id: str, path: str, cap: int = MAX_BODY_BYTES) -> JSONResponse:
    if scim_path(path):  # an identity provider reads SCIM errors only
        detail = f"The body is larger than the {cap} byte cap"
        return scim_error(413, detail, None, {REQUEST_ID_HEADER: request_id, "Connection": "close"})
    body = {
        "type": PROBLEM_BASE + "http-413",
        "title": "Request body too large",
        "status": 413,
        "detail": f"The body is larger than the {cap} byte cap",
        "max_bytes": cap,
        "instance": path,
        "request_id": request_id,
    }
    headers = {REQUEST_ID_HEADER: request_id, "Connection": "close"}
    return JSONResponse(body, status_code=413, media_type=PROBLEM_JSON, headers=headers)


def route_template(scope: Scope) -> str:
    """The matched route's template with the (static) prefixes of the routers it sits in, e.g.
    ``/v1/generations/{generation_id}``: the matched route knows only its own part, so the prefix is the
    part of the path before the suffix its pattern matches. ``unmatched`` when no route matched."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    pattern = getattr(route, "path_regex", None)
    if not isinstance(template, str):
        return "unmatched"
    path: str = scope.get("path", "")
    if pattern is not None and not pattern.match(path):
        cut = 0
        while (cut := path.find("/", cut + 1)) != -1:
            if pattern.match(path[cut:]):
                return path[:cut] + template
    return template


class MetricsMiddleware:
    """Request latency by method, route template (``/v1/generations/{generation_id}``, never a raw path,
    so ids do not explode the label set) and status code."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            template = route_template(scope)
            if template != "/metrics":
                metrics.observe_request(scope["method"], template, status, time.perf_counter() - started)


def internal_error(request_id: str) -> JSONResponse:
    """The one answer to an unexpected error: no detail beyond the request id to quote."""
    body = {
        "type": PROBLEM_BASE + "internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "The request could not be completed; quote the request id to support.",
        "request_id": request_id,
    }
    headers = {REQUEST_ID_HEADER: request_id}
    return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON, headers=headers)

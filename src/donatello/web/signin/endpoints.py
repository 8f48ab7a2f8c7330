"""Signing in and out in a browser: Entra ID (auth code + PKCE, the API's msal flow) or, on a loopback
server without Entra, local one-click sign-in. Both end in a browser session cookie."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from donatello.auth.errors import SignInFailed
from donatello.dependencies import DbSession, Device, resources_of
from donatello.sessions import browser
from donatello.sso import local
from donatello.sso import service as sso
from donatello.sso.entra_client import EntraSignIn
from donatello.web import security
from donatello.web.dependencies import CrossSiteRequest, SameOrigin, WebRoute, lifetimes, page, settings_of

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CALLBACK_PATH = "/sign-in/callback"


def _set_session_cookie(request: Request, response: Response, opened: browser.BrowserSession) -> None:
    settings = settings_of(request)
    response.set_cookie(
        security.session_cookie_name(settings),
        opened.cookie,
        max_age=int(settings.web_session_absolute.total_seconds()),
        path="/",
        secure=security.uses_https(settings),
        httponly=True,
        samesite="lax",
    )


def _loopback_only(request: Request) -> None:
    """Local sign-in answers only to a loopback host name: a site whose name was re-pointed at this
    machine (DNS rebinding) would otherwise be same-origin with itself and could sign in."""
    if not security.is_loopback(request.url.hostname or ""):
        raise CrossSiteRequest("Local sign-in works only at http://127.0.0.1 or http://localhost.")


def _callback_url(request: Request) -> str:
    settings = settings_of(request)
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + CALLBACK_PATH
    return str(request.url_for("web_sign_in_callback"))


@router.get("/sign-in", response_model=None)
async def sign_in(request: Request, session: DbSession, next: str | None = None) -> Response:
    """Entra configured: off to Entra at once. Local sign-in: the list of users. Otherwise: say so."""
    target = security.safe_next(next)
    state = resources_of(request)
    client: EntraSignIn | None = state.entra_sign_in
    if client is not None:
        flow = await client.start(_callback_url(request))
        flow["web_next"] = target
        signer = state.token_signer
        response = RedirectResponse(flow["auth_uri"], status_code=303)
        response.set_cookie(
            security.FLOW_COOKIE,
            signer.seal(flow, audience=sso.FLOW_AUDIENCE, lifetime=sso.FLOW_LIFETIME),
            max_age=int(sso.FLOW_LIFETIME.total_seconds()),
            path=CALLBACK_PATH,
            secure=True,
            httponly=True,
            samesite="none",  # Entra posts the form back cross-site
        )
        return response
    if security.local_sign_in_enabled(settings_of(request)):
        _loopback_only(request)
        return page(request, "sign_in_local.html", choices=await local.choices(session), next=target)
    return page(request, "sign_in_unavailable.html", status=503)


@router.post(CALLBACK_PATH, name="web_sign_in_callback", response_model=None)
async def callback(request: Request, session: DbSession, device: Device) -> Response:
    """Entra posts the code back (form_post, cross-site by design: state, nonce and PKCE protect it)."""
    state = resources_of(request)
    client, verifier = state.entra_sign_in, state.entra_verifier
    if client is None or verifier is None:  # both, or neither: Entra is configured or not
        raise SignInFailed("Sign-in with Microsoft Entra ID is not configured here")
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), max_num_fields=20))
    if "error" in form:
        raise SignInFailed("Sign-in was cancelled or refused; start again", error=form["error"][:100])
    flow = state.token_signer.unseal(
        request.cookies.get(security.FLOW_COOKIE, ""), audience=sso.FLOW_AUDIENCE
    )
    if flow is None:
        raise SignInFailed("The sign-in expired or was started in another browser; start again")
    id_token = await client.finish(flow, form)
    opened = await sso.complete_browser(
        session,
        verifier,
        id_token,
        nonce=sso.sent_nonce(flow),
        device=device,
        lifetimes=lifetimes(settings_of(request)),
    )
    response = RedirectResponse(security.safe_next(flow.get("web_next")), status_code=303)
    _set_session_cookie(request, response, opened)
    response.delete_cookie(
        security.FLOW_COOKIE, path=CALLBACK_PATH, secure=True, httponly=True, samesite="none"
    )
    return response


@router.post("/sign-in/local", response_model=None, dependencies=[SameOrigin])
async def local_sign_in(
    request: Request,
    session: DbSession,
    device: Device,
    user_id: Annotated[uuid.UUID, Form()],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not security.local_sign_in_enabled(settings_of(request)):
        raise SignInFailed("Local sign-in is not available on this server")
    _loopback_only(request)
    opened = await local.sign_in(session, user_id, device=device, lifetimes=lifetimes(settings_of(request)))
    response = RedirectResponse(security.safe_next(next), status_code=303)
    _set_session_cookie(request, response, opened)
    return response


@router.post("/sign-out", response_model=None, dependencies=[SameOrigin])
async def sign_out(request: Request, session: DbSession) -> Response:
    """End the server-side session and clear the cookie: our origin and the session's CSRF token (an
    already-ended session may still clear its cookie)."""
    settings = settings_of(request)
    name = security.session_cookie_name(settings)
    cookie = request.cookies.get(name)
    presented = (await request.form()).get(security.CSRF_FIELD)
    if cookie and not browser.csrf_matches(cookie, presented if isinstance(presented, str) else None):
        raise CrossSiteRequest("The sign-out form was stale; reload the page and sign out again.")
    await browser.end(session, cookie)
    response = RedirectResponse("/signed-out", status_code=303)
    response.delete_cookie(
        name, path="/", secure=security.uses_https(settings), httponly=True, samesite="lax"
    )
    return response


@router.get("/signed-out", response_class=HTMLResponse)
async def signed_out(request: Request) -> HTMLResponse:
    return page(request, "signed_out.html")

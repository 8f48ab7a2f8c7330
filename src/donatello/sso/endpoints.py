from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse

from donatello.auth.errors import InvalidEntraToken, SignInFailed, SignInNotConfigured
from donatello.dependencies import DbSession, Device
from donatello.openapi import problem_responses
from donatello.sessions.schemas import TokenPair
from donatello.sso import service
from donatello.sso.dependencies import SignIn

router = APIRouter(prefix="/auth", tags=["sign-in"])

FLOW_COOKIE = "donatello_sign_in"
_CALLBACK_PATH = "/v1/auth/callback"


@router.get("/login", status_code=302, responses=problem_responses(SignInNotConfigured, SignInFailed))
async def login(request: Request, parts: SignIn) -> RedirectResponse:
    """Start signing in with Microsoft Entra ID (authorization code + PKCE): redirects to Entra.

    The flow (state, nonce, PKCE verifier) travels in a signed, 10-minute, HttpOnly cookie that only the
    callback receives.
    """
    redirect_uri = parts.settings.entra_redirect_uri or str(request.url_for("callback"))
    flow = await parts.client.start(redirect_uri)
    response = RedirectResponse(flow["auth_uri"], status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        parts.signer.seal(flow, audience=service.FLOW_AUDIENCE, lifetime=service.FLOW_LIFETIME),
        max_age=int(service.FLOW_LIFETIME.total_seconds()),
        path=_CALLBACK_PATH,
        secure=True,
        httponly=True,
        samesite="none",  # Entra posts the form back cross-site
    )
    return response


@router.post(
    "/callback",
    response_model=TokenPair,
    responses=problem_responses(SignInFailed, InvalidEntraToken, SignInNotConfigured),
)
async def callback(request: Request, parts: SignIn, session: DbSession, device: Device) -> JSONResponse:
    """Entra posts the authorization code here (form_post); answers with our access and refresh tokens."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), max_num_fields=20))
    if "error" in form:
        raise SignInFailed("Sign-in was cancelled or refused", error=form["error"][:100])
    flow = parts.signer.unseal(request.cookies.get(FLOW_COOKIE, ""), audience=service.FLOW_AUDIENCE)
    if flow is None:
        raise SignInFailed("The sign-in expired or was started in another browser; start again")
    id_token = await parts.client.finish(flow, form)
    pair = await service.complete(
        session,
        parts.verifier,
        parts.signer,
        id_token,
        nonce=service.sent_nonce(flow),
        device=device,
        refresh_lifetime=parts.settings.refresh_token_lifetime,
    )
    response = JSONResponse(pair.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
    response.delete_cookie(FLOW_COOKIE, path=_CALLBACK_PATH, secure=True, httponly=True, samesite="none")
    return response

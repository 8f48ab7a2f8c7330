"""The browser edge's plumbing: the signed-in viewer (from the session cookie), CSRF and Origin checks,
and a route class that turns every error of a page into a readable page (or a sign-in redirect)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from donatello.auth import mfa
from donatello.budgets import increase_requests
from donatello.config import Settings
from donatello.core import request_context
from donatello.core.database import set_platform_scope, unit_of_work
from donatello.core.errors import DomainError, Forbidden
from donatello.dependencies import DbSession, resources_of
from donatello.notifications import service as notifications
from donatello.reports.service import timezone_of
from donatello.sessions import browser
from donatello.tenancy import Action, Permission, Principal
from donatello.tenancy.actions import policy_of, refusal
from donatello.users import service as users
from donatello.web import messages, rendering, security
from donatello.web.forms import FormState

log = logging.getLogger(__name__)


class SignInRequired(DomainError):
    status = 401
    type = "sign-in-required"
    title = "Please sign in"


class CrossSiteRequest(Forbidden):
    type = "cross-site-request"
    title = "This form was not sent from DonatelloAI"


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at a page: their principal and their browser session."""

    principal: Principal
    session: browser.BrowserSession
    timezone: str  # the organization's: dates and budget periods are shown in it
    waiting_requests: int = 0  # budget requests waiting for this viewer's decision (the navigation's count)
    unread_notifications: int = 0  # the bell's count

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    @property
    def navigation(self) -> list[rendering.NavGroup]:
        return rendering.navigation(self.principal)

    @property
    def home(self) -> rendering.NavItem:
        """This role's own first page (where ``/`` leads and error pages point back to)."""
        return rendering.landing(self.principal)

    def can(self, permission: Permission) -> bool:
        return self.principal.can(permission)

    def offers(self, href: str) -> bool:
        """Whether the navigation offers this page to the viewer (a page links only to those)."""
        return any(item.href == href for group in self.navigation for item in group.items)


def settings_of(request: Request) -> Settings:
    settings: Settings = resources_of(request).settings
    return settings


def lifetimes(settings: Settings) -> browser.Lifetimes:
    return browser.Lifetimes(idle=settings.web_session_idle, absolute=settings.web_session_absolute)


def page(
    request: Request, template: str, *, status: int = 200, viewer: Viewer | None = None, **context: Any
) -> HTMLResponse:
    """Render a page (or a fragment) with what every template may use; ``form``: a form shown again with
    its problems (blank unless given)."""
    context.setdefault("form", FormState())
    body = rendering.render(template, request=request, viewer=viewer, path=request.url.path, **context)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, error: DomainError, viewer: Viewer | None = None) -> HTMLResponse:
    explanation = messages.explain(error)
    headers = error.headers()
    response = page(request, "error.html", status=error.status, viewer=viewer, explanation=explanation)
    response.headers.update(headers)
    return response


def not_found_page(request: Request, viewer: Viewer | None = None) -> HTMLResponse:
    return page(
        request,
        "error.html",
        status=404,
        viewer=viewer,
        explanation=messages.Explanation(
            "Page not found",
            "There is nothing here, or it is not yours to see.",
            "Use the menu to find your way, or go back to your home page.",
        ),
    )


async def http_error_page(request: Request, status: int) -> HTMLResponse:
    """A framework-level refusal of a page address (no route, wrong method) as a page, with the
    navigation when someone is signed in (no route ran, so the viewer is looked up here)."""
    viewer = await _viewer_if_signed_in(request)
    if status == 404:
        return not_found_page(request, viewer)
    return page(
        request,
        "error.html",
        status=status,
        viewer=viewer,
        explanation=messages.Explanation(
            "This address does not work that way",
            "The page cannot be used like this (for example, a form address opened as a link).",
            "Use the menu to find your way, or go back to your home page.",
        ),
    )


async def _viewer_if_signed_in(request: Request) -> Viewer | None:
    if getattr(request.state, "viewer", None) is not None:
        return request.state.viewer  # type: ignore[no-any-return]
    settings = settings_of(request)
    if not request.cookies.get(security.session_cookie_name(settings)):
        return None
    try:
        async with resources_of(request).sessionmaker() as session, unit_of_work(session):
            return await _viewer(request, session)
    except DomainError:  # signed out, or the session ended: the page without navigation
        return None


def _sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or request.headers.get("x-fragment"):
        # a form or a background fetch: say so; the page's script reloads into the redirect
        return error_page(request, SignInRequired("Your session has ended; sign in again."))
    return RedirectResponse(f"/sign-in?next={quote(security.safe_next(target), safe='/')}", status_code=303)


class WebRoute(APIRoute):
    """Pages answer in HTML whatever happens: a domain error becomes a page in plain words, an invalid
    form a 422 page, a missing session a redirect to sign-in, an unexpected error a 500 page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return _sign_in_redirect(request)
            except DomainError as error:
                return error_page(request, error, getattr(request.state, "viewer", None))
            except RequestValidationError as error:
                fields = ", ".join(str(e["loc"][-1]) for e in error.errors())
                invalid = DomainError(f"Some values are not valid: {fields}.")
                return page(
                    request,
                    "error.html",
                    status=422,
                    viewer=getattr(request.state, "viewer", None),
                    explanation=messages.explain(invalid),
                )
            except HTTPException as error:
                if error.status_code == 404:
                    return not_found_page(request, getattr(request.state, "viewer", None))
                raise
            except Exception:
                log.exception("page failed", extra={"path": request.url.path})
                return page(
                    request,
                    "error.html",
                    status=500,
                    explanation=messages.Explanation(
                        "Something went wrong",
                        "The page could not be shown. Nothing you asked for was lost.",
                        "Try again in a moment; if it keeps happening, tell support the time it happened.",
                    ),
                )

        return handle


async def _viewer(request: Request, session: DbSession) -> Viewer:
    settings = settings_of(request)
    cookie = request.cookies.get(security.session_cookie_name(settings))
    resumed = await browser.resume(session, cookie, lifetimes(settings))
    if resumed is None:
        raise SignInRequired()
    principal = await users.principal_for(
        session,
        resumed.user_id,
        resumed.organization_id,
        session_id=resumed.session_id,
        session_mfa=resumed.mfa_satisfied,
    )
    if principal.is_platform_admin:
        await set_platform_scope(session)
    request_context.identify(principal.organization_id, principal.user_id)
    viewer = Viewer(
        principal,
        resumed,
        await timezone_of(session, principal.organization_id),
        await increase_requests.waiting(session, principal),
        await notifications.unread_count(session, principal),
    )
    request.state.viewer = viewer
    return viewer


def request_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def _same_origin(request: Request) -> None:
    if not security.same_origin(
        settings_of(request),
        request_origin(request),
        request.headers.get("origin"),
        request.headers.get("referer"),
    ):
        raise CrossSiteRequest("This form was sent from another site, so it was refused.")


SameOrigin = Depends(_same_origin)


async def _checked(
    request: Request, _origin: Annotated[None, SameOrigin], viewer: Annotated[Viewer, Depends(_viewer)]
) -> Viewer:
    """A state-changing request of a signed-in page: our origin (checked first: a cross-site post is
    refused whether or not the browser sent the cookie), and the session's CSRF token."""
    form = await request.form()
    presented = form.get(security.CSRF_FIELD) or request.headers.get(security.CSRF_HEADER)
    if not browser.csrf_matches(viewer.session.cookie, presented if isinstance(presented, str) else None):
        raise CrossSiteRequest("The form was stale or not sent from this page; reload it and try again.")
    return viewer


class Requiring:
    """The web's authorization dependency, the twin of the API's ``Require``: a signed-in viewer allowed
    to take the action (``tenancy/actions.py``: any one of its permissions, and MFA where it needs it).

    Every page and form declares one — ``requiring(Action.X)`` or ``SignedInViewer`` (any signed-in
    person: the home page, the models, their own usage and notifications) — and the tests read
    ``permissions`` from each route's dependencies, so a route that declares nothing fails them. A
    refusal is the 403 page, saying in words who may.
    """

    changes_state = False

    def __init__(self, *needs: Action | Permission) -> None:
        self.policy = policy_of(*needs)
        self.permissions = self.policy.permissions

    def check(self, viewer: Viewer) -> Viewer:
        if missing := self.policy.missing(viewer.principal):
            raise refusal(missing, messages.needs(*missing))
        if self.policy.mfa:
            mfa.ensure_may_generate(viewer.principal)
        return viewer

    async def __call__(self, viewer: Annotated[Viewer, Depends(_viewer)]) -> Viewer:
        return self.check(viewer)


class RequiringChanges(Requiring):
    """``Requiring`` for a state-changing request: it must also pass the Origin and CSRF checks."""

    changes_state = True

    async def __call__(self, viewer: Annotated[Viewer, Depends(_checked)]) -> Viewer:
        return self.check(viewer)


def requiring(need: Action | Permission, *alternatives: Permission, changes_state: bool = False) -> Requiring:
    """A viewer allowed to take the action ``need`` (or holding the permission ``need`` or one of
    ``alternatives``) — the same map as the API's ``require``; with ``changes_state`` the request must also
    pass the Origin and CSRF checks."""
    kind = RequiringChanges if changes_state else Requiring
    return kind(need, *alternatives)


SignedInViewer = Annotated[Viewer, Depends(Requiring())]
"""Any signed-in person: the home page, the models, their own usage and notifications."""
Checked = Annotated[Viewer, Depends(RequiringChanges())]
"""Any signed-in person changing something of their own: the Origin and CSRF checks pass."""

"""Every page and form of the browser edge by every role, as the API's permission walk does for operations.

Each web route declares who may use it (``requiring(Action.X)``, or ``SignedInViewer``/``Checked`` for a
page about oneself); the routes are read from the app, not from a list. Signed in locally as staff, a
power user, a department manager, finance, an org admin and a platform admin (a real session cookie, the
page's CSRF token on every form), each route must:

* without the permission, answer the 403 page saying who may (signed out: the sign-in redirect, or for a
  form the sign-in page);
* with it, get past the check: whatever the route then answers (a page, a redirect, 404 for an unknown
  id, 422 for an empty form), never a 403, a 500 or the sign-in page;
* given another department's department or generation, answer 404 to those confined to their own
  department or their own images (never its data);
* given another organization's resource, answer 404 to everyone but the platform admin.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.config import Settings
from donatello.main import create_app
from donatello.models import DepartmentBudget, Generation, GenerationBatch, Organization, User
from donatello.tenancy import GRANTS, Permission, Role
from donatello.web import messages, rendering
from donatello.web.dependencies import Requiring, WebRoute
from tests.support import factories
from tests.support.web_asgi import ORIGIN, page_client, sign_in_locally

#: Pages anyone may open: signing in and out.
PUBLIC = {
    ("GET", "/sign-in"),
    ("POST", "/sign-in/callback"),
    ("POST", "/sign-in/local"),
    ("POST", "/sign-out"),
    ("GET", "/signed-out"),
}
#: Pages every signed-in person may use, whatever their role: the home page (it sends each role to its
#: own page), the models and their prices, one's own usage and notifications. Any other route must name
#: a permission, so a page whose permission is dropped fails here.
SIGNED_IN = {
    ("GET", "/"),
    ("GET", "/generate"),
    ("GET", "/models"),
    ("GET", "/usage"),
    ("GET", "/notifications"),
    ("POST", "/notifications/read-all"),
    ("POST", "/notifications/email"),
    ("POST", "/notifications/{notification_id}/read"),
}
#: A path parameter naming a tenant's row -> the table ``factories.tenant_world`` filled for it.
TENANT_ROWS = {
    "department_id": "departments",
    "generation_id": "generations",
    "export_id": "export_jobs",
    "reconciliation_id": "reconciliations",
    "webhook_id": "webhooks",
    "delivery_id": "webhook_deliveries",
    "key_id": "api_keys",
    "user_id": "users",
    "request_id": "budget_increase_requests",
    "notification_id": "notifications",
}
#: Path parameters that are not ids.
WORDS = {"table": "user"}
#: Roles confined to their own department's reports and people, or to their own images.
CONFINED = {Role.STANDARD_USER, Role.POWER_USER, Role.DEPT_MANAGER}
#: Organization-wide figures: a department manager holds reports:read for their own department only, so
#: the service refuses them (403, in words) as it does through the API.
ORGANIZATION_WIDE = {("GET", "/reports.csv"): "The organization rollup is for org admins and finance"}


@dataclass(frozen=True)
class WebOperation:
    method: str
    path: str
    requiring: Requiring | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    def url(self, ids: dict[str, Any]) -> str:
        """The path with each parameter from ``ids`` (table -> id), a word, or an unknown id."""
        url = self.path
        for name in self.parameters:
            if name in WORDS:
                value = WORDS[name]
            elif TENANT_ROWS.get(name) in ids:
                value = str(ids[TENANT_ROWS[name]])
            else:
                value = str(uuid.uuid4())
            url = url.replace("{" + name + "}", value)
        return url


def declared(route: APIRoute) -> Requiring | None:
    """The route's ``Requiring`` dependency, found by walking its dependencies (None: it declares none)."""
    pending = [route.dependant]
    while pending:
        current = pending.pop()
        if isinstance(current.call, Requiring):
            return current.call
        pending.extend(current.dependencies)
    return None


def web_operations(app: FastAPI) -> Iterator[WebOperation]:
    for context in iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, WebRoute):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield WebOperation(method, route.path, declared(route))


def _text(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))


def _refused_by_the_check(response: httpx.Response, permissions: tuple[Permission, ...]) -> bool:
    return response.status_code == 403 and messages.needs(*permissions) in _text(response)


def _sent_to_sign_in(response: httpx.Response) -> bool:
    redirected = response.status_code == 303 and response.headers["location"].startswith("/sign-in?")
    return redirected or (response.status_code == 401 and "Please sign in" in _text(response))


@pytest.fixture(scope="module")
async def local_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The app as ``make run`` serves it: no Entra ID, loopback, so local sign-in."""
    local = settings.model_copy(
        update={
            "entra_tenant_id": None,
            "entra_client_id": None,
            "entra_client_secret": None,
            "host": "127.0.0.1",
        }
    )
    app = create_app(local, engine=engine)
    async with app.router.lifespan_context(app):
        yield app


def test_every_web_route_declares_who_may_use_it(local_app: FastAPI) -> None:
    operations = list(web_operations(local_app))
    assert len(operations) > 45  # the walk reads the app's routes: every page and form is here
    undeclared = {op.key for op in operations if op.requiring is None}
    assert undeclared == PUBLIC
    open_to_all = {op.key for op in operations if op.requiring is not None and not op.requiring.permissions}
    assert open_to_all == SIGNED_IN
    unchecked_forms = [
        op.key for op in operations if op.method == "POST" and op.requiring and not op.requiring.changes_state
    ]
    assert unchecked_forms == []  # every form of a signed-in page passes the Origin and CSRF checks


def test_a_page_in_the_navigation_refuses_whom_the_navigation_hides_it_from(local_app: FastAPI) -> None:
    """The navigation offers a page by a permission; the page itself must need that permission (or one
    that only its holders hold), so a link hidden from a role is also a door closed to it."""
    pages = {op.path: op for op in web_operations(local_app) if op.method == "GET"}
    checked = 0
    for group in rendering.NAVIGATION:
        for item in group.items:
            if item.permission is None or ("GET", item.href) in SIGNED_IN:  # shown to some, usable by all
                continue
            requiring = pages[item.href].requiring
            assert requiring is not None and item.permission in requiring.permissions, item.href
            checked += 1
    assert checked >= 11


@dataclass
class Member:
    role: Role
    user: User
    http: httpx.AsyncClient
    csrf: str

    def lacks(self, requiring: Requiring) -> tuple[Permission, ...]:
        """What the member's role lacks of the route's policy (any one would do); empty: allowed."""
        granted = GRANTS[self.role]
        policy = requiring.policy
        if policy.permissions and not set(policy.permissions) & granted:
            return policy.permissions
        return next(((permission,) for permission in policy.also if permission not in granted), ())


async def _member(app: FastAPI, db: AsyncSession, org: Organization, role: Role, **kwargs: Any) -> Member:
    person = await factories.user(db, org, role=role.value, **kwargs)
    http = await page_client(app, db)
    return Member(role, person, http, await sign_in_locally(http, person, "/usage"))


async def _another_department(db: AsyncSession, org: Organization) -> dict[str, Any]:
    """A department of the same organization with a person and their generation."""
    department = await factories.department(db, org)
    await factories.budget(db, department)
    person = await factories.user(db, org, department=department)
    batch = GenerationBatch(
        organization_id=org.id,
        user_id=person.id,
        department_id=department.id,
        request_fingerprint="0" * 64,
        total=1,
    )
    db.add(batch)
    await db.flush()
    generation = Generation(
        batch_id=batch.id,
        organization_id=org.id,
        user_id=person.id,
        department_id=department.id,
        model_provider="local",
        model_name="pillow-sketch",
        prompt_encrypted="sealed",
    )
    db.add(generation)
    await db.flush()
    return {"departments": department.id, "generations": generation.id, "users": person.id}


async def _call(member: Member | None, http: httpx.AsyncClient, op: WebOperation, url: str) -> httpx.Response:
    if op.method == "GET":
        return await http.get(url)
    form = {"csrf_token": member.csrf} if member else {}
    return await http.post(url, data=form, headers={"Origin": ORIGIN})


async def test_every_web_route_by_every_role(local_app: FastAPI, db: AsyncSession) -> None:
    org = await factories.organization(db)
    home = await factories.department(db, org)
    await factories.budget(db, home)
    members = [
        await _member(local_app, db, org, role, department=home)
        for role in (Role.STANDARD_USER, Role.POWER_USER, Role.DEPT_MANAGER, Role.FINANCE, Role.ORG_ADMIN)
    ]
    platform = await factories.organization(db, is_platform=True)
    platform_department = await factories.department(db, platform)
    await factories.budget(db, platform_department)
    members.append(await _member(local_app, db, platform, Role.SUPER_ADMIN, department=platform_department))
    elsewhere = await _another_department(db, org)
    other_tenant = await factories.tenant_world(db, await factories.organization(db))
    anonymous = await page_client(local_app, db)

    walked = refused = 0
    failures: list[str] = []
    for op in web_operations(local_app):
        if op.requiring is None:
            continue
        needed = op.requiring.permissions
        name = f"{op.method} {op.path}"
        if op.key not in SIGNED_IN and not needed:
            failures.append(f"{name} names no permission")
        signed_out = await _call(None, anonymous, op, op.url({}))
        if not _sent_to_sign_in(signed_out):
            failures.append(f"{name} signed out: {signed_out.status_code}")
        for member in members:
            who = f"{name} as {member.role.value}"
            unknown = await _call(member, member.http, op, op.url({}))
            walked += 1
            if lacking := member.lacks(op.requiring):
                refused += 1
                if not _refused_by_the_check(unknown, lacking):
                    failures.append(f"{who} was let through: {unknown.status_code}")
                continue
            if op.key in ORGANIZATION_WIDE and member.role is Role.DEPT_MANAGER:
                if unknown.status_code != 403 or ORGANIZATION_WIDE[op.key] not in _text(unknown):
                    failures.append(f"{who}: {unknown.status_code}, not the organization-wide refusal")
            elif unknown.status_code in (401, 403) or unknown.status_code >= 500 or _sent_to_sign_in(unknown):
                failures.append(f"{who} was refused: {unknown.status_code} {_text(unknown)[:200]}")
            # Another department's or organization's resource answers as an unknown id does: 404 for a
            # page, and a form refuses it as it refuses an id that does not exist (an empty form may be
            # refused for its fields first: nothing is said about the resource either way).
            hidden = 404 if op.method == "GET" else unknown.status_code
            if {"department_id", "generation_id"} & set(op.parameters) and member.role in CONFINED:
                theirs = await _call(member, member.http, op, op.url(elsewhere))
                if theirs.status_code != hidden:
                    failures.append(
                        f"{who}, another department's: {theirs.status_code} {_text(theirs)[:200]}"
                    )
            if set(TENANT_ROWS) & set(op.parameters) and member.role is not Role.SUPER_ADMIN:
                foreign = await _call(member, member.http, op, op.url(other_tenant))
                if foreign.status_code != hidden:
                    failures.append(f"{who}, another organization's: {foreign.status_code}")

    for member in members:
        await member.http.aclose()
    await anonymous.aclose()
    assert failures == [], "\n".join(failures)
    assert walked > 250  # about 47 routes by 6 roles
    assert refused > 100


async def test_a_first_budget_is_set_by_an_org_admin_and_refused_to_the_manager_by_the_service(
    local_app: FastAPI, db: AsyncSession
) -> None:
    """The dashboard's budget form creates a budget through the API's service, which says who may: the
    manager (who may tune alerts) reads the 403 page in words and nothing is written."""
    org = await factories.organization(db)
    department = await factories.department(db, org)
    form = {"monthly_budget_aud": "A$1,500.00", "enforcement_mode": "soft", "alert_thresholds": "50, 90"}
    manager = await _member(local_app, db, org, Role.DEPT_MANAGER, department=department)
    refused = await manager.http.post(
        f"/reports/{department.id}/budget",
        data={**form, "csrf_token": manager.csrf},
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 403
    assert "Only organization admins can set budgets and decide requests for more." in _text(refused)
    assert (
        await db.scalar(select(DepartmentBudget).where(DepartmentBudget.department_id == department.id))
        is None
    )

    admin = await _member(local_app, db, org, Role.ORG_ADMIN)
    saved = await admin.http.post(
        f"/reports/{department.id}/budget",
        data={**form, "csrf_token": admin.csrf},
        headers={"Origin": ORIGIN},
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"/reports/{department.id}?saved=true")
    budget = await db.scalar(select(DepartmentBudget).where(DepartmentBudget.department_id == department.id))
    assert budget is not None
    assert (budget.monthly_budget_aud, budget.enforcement_mode) == (Decimal("1500.00"), "soft")
    for member in (manager, admin):
        await member.http.aclose()

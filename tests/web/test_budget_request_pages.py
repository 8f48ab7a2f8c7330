"""Asking for more from a cap refusal and hearing the answer, page by page as each person sees it: the
refusal card prefilled with the shortfall, a typing mistake said next to its field, the admin's queue
with who asked and the department's figures, "My requests" with the amount granted and the reason, and
the manager's dashboard naming the asker while the manager's own form stays."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.main import create_app
from donatello.models import DepartmentBudget, User
from tests.support import factories
from tests.support.generation_world import World, world
from tests.support.web_asgi import ORIGIN, page_client, sign_in_locally


@pytest.fixture(scope="module")
async def local_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
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


async def _capped_world(db: AsyncSession, tokens: TokenSigner) -> World:
    """A standard user whose cap (A$0.05) is one image of the world's model (A$0.05 an image)."""
    here = await world(db, tokens, budget="100.00", role="standard_user")
    budget = (
        await db.execute(select(DepartmentBudget).where(DepartmentBudget.department_id == here.department.id))
    ).scalar_one()
    budget.per_user_monthly_cap_aud = Decimal("0.05")
    await db.flush()
    return here


async def _generate(http: httpx.AsyncClient, here: World, csrf: str) -> httpx.Response:
    return await http.post(
        "/generate",
        data={"prompt": "a kite", "model": f"local/{here.local.model_name}", "n": "1", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
    )


def _text(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))


async def _as(app: FastAPI, db: AsyncSession, user: User, landing: str) -> tuple[httpx.AsyncClient, str]:
    http = await page_client(app, db)
    return http, await sign_in_locally(http, user, landing)


async def test_a_capped_person_asks_from_the_refusal_and_hears_the_answer(
    local_app: FastAPI, db: AsyncSession, tokens: TokenSigner
) -> None:
    here = await _capped_world(db, tokens)
    member, csrf = await _as(local_app, db, here.member, "/")
    quote = _text(await member.get("/"))
    assert "You may still spend A$0.05 (what is left of your monthly cap, until" in quote
    assert "Marketing has" not in quote and "has A$" not in quote  # the department's figure would mislead

    assert (await _generate(member, here, csrf)).status_code == 303  # holds the whole cap
    refused = await _generate(member, here, csrf)
    assert refused.status_code == 402
    said = _text(refused)
    assert "Your monthly cap is reached" in said
    assert (
        f"Your cap in {here.department.code} is A$0.05 this month and A$0.05 of it is used or held, "
        "so A$0.00 is left; this request needs A$0.05."
    ) in said
    assert "Ask for A$0.05 more" in said
    refusal_id = re.search(r'name="refusal_id" value="([^"]+)"', refused.text)
    assert refusal_id and re.search(r'name="amount_aud" value="0.05"', refused.text)

    typo = await member.post(
        "/my-requests",
        data={
            "refusal_id": refusal_id.group(1),
            "amount_aud": "0,5o",
            "reason": "client pitch",
            "csrf_token": csrf,
        },
        headers={"Origin": ORIGIN},
    )
    assert typo.status_code == 422
    assert 'value="0,5o"' in typo.text and ">client pitch</textarea>" in typo.text  # kept as typed
    assert re.search(r'id="ask-amount-error">Give an amount in dollars', typo.text)
    assert 'aria-invalid="true"' in typo.text

    forged = await member.post(
        "/my-requests",
        data={"refusal_id": refusal_id.group(1), "amount_aud": "0.50", "reason": "x", "csrf_token": "forged"},
        headers={"Origin": ORIGIN},
    )
    assert forged.status_code == 403
    cross_site = await member.post(
        "/my-requests",
        data={"refusal_id": refusal_id.group(1), "amount_aud": "0.50", "reason": "x", "csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403

    asked = await member.post(
        "/my-requests",
        data={
            "refusal_id": refusal_id.group(1),
            "amount_aud": "0.50",
            "reason": "client pitch",
            "csrf_token": csrf,
        },
        headers={"Origin": ORIGIN},
    )
    assert asked.status_code == 303, asked.text
    waiting = _text(await member.get("/my-requests?asked=true"))
    assert f"A$0.50 for your cap in {here.department.code}, this period" in waiting
    assert "Status Waiting for a decision" in waiting

    again = await member.post(  # one open request at a time: said on the form, not a 500
        "/my-requests",
        data={"refusal_id": refusal_id.group(1), "amount_aud": "0.20", "reason": "more", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
    )
    assert again.status_code == 409 and 'value="0.20"' in again.text

    admin_user = await factories.colleague(db, here.member, role="org_admin", same_department=False)
    admin, admin_csrf = await _as(local_app, db, admin_user, "/budget-requests")
    queue = _text(await admin.get("/budget-requests"))
    assert "Requests 1 waiting" in queue  # the navigation's count
    name = here.member.display_name
    assert f"{name} asks A$0.50 for their own cap in" in queue
    assert f"Cap of {name} · this period only" in queue
    assert f"{here.department.code} budget A$100.00 Spent A$0.00 Held A$0.05" in queue
    assert f"{name} spent or holds this period A$0.05" in queue
    request_id = re.search(
        r'action="/budget-requests/([0-9a-f-]+)/decision"', (await admin.get("/budget-requests")).text
    )
    assert request_id
    decided = await admin.post(
        f"/budget-requests/{request_id.group(1)}/decision",
        data={
            "decision": "approved",
            "amount_aud": "0.30",
            "reason": "Half now; ask again",
            "csrf_token": admin_csrf,
        },
        headers={"Origin": ORIGIN},
    )
    assert decided.status_code == 303, decided.text

    assert "waiting-count" not in (await admin.get("/budget-requests")).text  # none left to decide
    answered = _text(await member.get("/my-requests"))
    assert "Approved A$0.30 of A$0.50" in answered
    assert f"Decided by {admin_user.display_name}" in answered
    assert "Their reason Half now; ask again" in answered
    assert (await _generate(member, here, csrf)).status_code == 303  # the raised cap admits it

    manager_user = await factories.colleague(db, here.member, role="dept_manager")
    manager, _ = await _as(local_app, db, manager_user, f"/reports/{here.department.id}")
    dashboard = await manager.get(f"/reports/{here.department.id}")
    seen = _text(dashboard)
    assert f"{name} asked A$0.50 for their own cap, this period" in seen
    assert f"approved A$0.30 by {admin_user.display_name} — “Half now; ask again”" in seen
    assert ">Request more budget</button>" in dashboard.text  # the manager's own form stays
    for http in (member, admin, manager):
        await http.aclose()


async def test_a_budget_refusal_asks_for_the_departments_budget(
    local_app: FastAPI, db: AsyncSession, tokens: TokenSigner
) -> None:
    here = await world(db, tokens, budget="0.12", role="standard_user")  # the model: A$0.05 an image
    member, csrf = await _as(local_app, db, here.member, "/")
    refused = await member.post(
        "/generate",
        data={"prompt": "kites", "model": f"local/{here.local.model_name}", "n": "4", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 402
    assert "Ask for A$0.08 more" in _text(refused)
    refusal_id = re.search(r'name="refusal_id" value="([^"]+)"', refused.text)
    assert refusal_id and 'name="amount_aud" value="0.08"' in refused.text

    empty_reason = await member.post(
        "/my-requests",
        data={"refusal_id": refusal_id.group(1), "amount_aud": "0.08", "reason": " ", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
    )
    assert empty_reason.status_code == 422
    assert 'id="ask-reason-error">Say why you need it' in empty_reason.text
    assert 'value="0.08"' in empty_reason.text

    asked = await member.post(
        "/my-requests",
        data={"refusal_id": refusal_id.group(1), "amount_aud": "0.08", "reason": "kites", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
    )
    assert asked.status_code == 303
    mine = _text(await member.get("/my-requests"))
    assert f"A$0.08 for the department's budget in {here.department.code}, this period" in mine
    await member.aclose()

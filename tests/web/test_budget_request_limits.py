"""In the browser, asking for more budget than a budget can hold is refused on the spot with a readable
page naming the most this service holds (never a 500 on the admin's approval), and so is an approval
that no longer fits because the budget grew in the meantime."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.budgets import increase_requests
from donatello.budgets.schemas import IncreaseRequestCreate
from donatello.config import Settings
from donatello.main import create_app
from donatello.models import DepartmentBudget
from tests.support import factories
from tests.support.generation_world import world
from tests.support.ledger import principal_of
from tests.support.web_asgi import ORIGIN, page_client, sign_in_locally

MAXIMUM = "9,999,999,999.99"


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


@pytest.fixture
async def browser(local_app: FastAPI, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with await page_client(local_app, db) as http:
        yield http


async def test_a_manager_asking_for_more_than_a_budget_holds_reads_why(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    here = await world(db, tokens, budget="10.00", role="dept_manager")
    dashboard = f"/reports/{here.department.id}"
    csrf = await sign_in_locally(browser, here.member, dashboard)
    for amount in ("9999999999.99", "10000000000.00"):
        refused = await browser.post(
            f"{dashboard}/budget-requests",
            data={"amount_aud": amount, "reason": "everything", "scope": "this_period", "csrf_token": csrf},
            headers={"Origin": ORIGIN},
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("text/html")
        assert re.sub(r"[,\s]", "", MAXIMUM) in re.sub(r"[,\s]", "", refused.text)


async def test_an_admin_approving_a_request_that_no_longer_fits_reads_why(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    here = await world(db, tokens, budget="10.00", role="dept_manager")
    admin = await factories.colleague(db, here.member, role="org_admin", same_department=False)
    asked = await increase_requests.ask(
        db,
        principal_of(here.member),
        here.department.id,
        IncreaseRequestCreate(amount_aud=Decimal("9000000000.00"), reason="a lot", scope="permanent"),
    )
    budget = (
        await db.execute(select(DepartmentBudget).where(DepartmentBudget.department_id == here.department.id))
    ).scalar_one()
    budget.monthly_budget_aud = Decimal("2000000000.00")  # raised meanwhile
    await db.flush()
    csrf = await sign_in_locally(browser, admin, "/budget-requests")
    refused = await browser.post(
        f"/budget-requests/{asked.id}/decision",
        data={"decision": "approved", "reason": "fine", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 422, refused.text
    assert "9999999999.99" in refused.text.replace(",", "")

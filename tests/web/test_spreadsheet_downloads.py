"""What a person downloads from the web pages runs nothing in a spreadsheet: the dashboard's report CSV
and the cost export streamed from the exports page make text that starts like a formula inert, while
amounts stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.config import Settings
from donatello.main import create_app
from tests.support.hostile_ledger import HYPERLINK, SUM, hostile_ledger
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


@pytest.fixture
async def browser(local_app: FastAPI, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with await page_client(local_app, db) as http:
        yield http


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


async def test_the_dashboards_report_csv_is_inert(browser: httpx.AsyncClient, db: AsyncSession) -> None:
    _, admin, dept = await hostile_ledger(db)
    await sign_in_locally(browser, admin, f"/reports/{dept.id}")
    download = await browser.get(f"/reports/{dept.id}/user.csv?period=2026-04")
    assert download.status_code == 200, download.text
    rows = _rows(download.content)
    assert rows and all(row["label"].startswith("'@") for row in rows)
    assert sum(Decimal(row["net_aud"]) for row in rows) == Decimal(
        "0.0760"
    )  # 0.12 - 0.04 - 0.005 + 0.001: numbers


async def test_the_export_downloaded_from_the_exports_page_is_inert(
    browser: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, admin, _ = await hostile_ledger(db)
    csrf = await sign_in_locally(browser, admin, "/exports")
    for fmt, column, reason in (
        ("csv", "department_name", "reason"),
        ("focus-csv", "SubAccountName", "x_Reason"),
    ):
        download = await browser.post(
            "/exports",
            data={"from": "2026-04-01", "to": "2026-04-30", "format": fmt, "csrf_token": csrf},
            headers={"Origin": ORIGIN},
        )
        assert download.status_code == 200, download.text
        rows = _rows(download.content)
        assert {row[column] for row in rows} == {"'" + HYPERLINK}
        assert "'" + SUM in {row[reason] for row in rows}
        assert "-0.0400" in {row["actual_cost_aud" if fmt == "csv" else "BilledCost"] for row in rows}

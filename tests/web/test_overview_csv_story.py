"""The organization overview as CSV, in a real browser: finance downloads the departments of the month
shown, and the file holds exactly the overview's rows — the API's ``/v1/reports/organization?format=csv``
for the same month; a month that is not one leads back to the overview with the reason beside the
period; a department manager cannot download it."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.web.world import World, user_ids


def test_finance_downloads_the_overview_it_reads(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    finance = sign_in(World.acme("finance"), "/reports")
    shown = {
        row.get_attribute("data-department"): Decimal(row.get_attribute("data-net-aud") or "")
        for row in finance.locator("[data-testid=departments] tbody tr").all()
    }
    assert set(shown) == {"MKTG", "ENGG", "SALES"}
    month = finance.get_by_label("Period (YYYY-MM)").input_value()
    link = finance.get_by_role("link", name=re.compile(r"^Download the departments of \w+ \d{4} \(CSV\)$"))
    looks_right(finance, "overview-csv-link")
    with finance.expect_download() as downloading:
        link.click()
    download = downloading.value
    assert download.suggested_filename == f"acme.com.au-departments-{month}.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["department_code"]: Decimal(row["net_aud"]) for row in rows} == shown

    user_id, org_id = user_ids(web_database, "finance@acme.com.au")
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30) as api:
        answer = api.get("/v1/reports/organization", params={"period": month, "format": "csv"})
    assert answer.text == text  # the API's own file, byte for byte

    finance.goto(live_server.url + "/reports.csv?period=2026-13")
    period = finance.get_by_label("Period (YYYY-MM)")
    expect(period).to_have_attribute("aria-invalid", "true")
    expect(period).to_have_value("2026-13")

    manager = sign_in(World.acme("dept_manager"), "/reports")
    assert manager.request.get(live_server.url + "/reports.csv").status == 403
    page_errors.clear()  # the console's notes of the refusals made on purpose

"""A month of real spend on the dashboard: the burn-down climbs day by day towards the budget, its
points and forecasts are the report API's, its CSV holds exactly the series it draws, it stays tall on a
phone, and the page is the screenshot in docs/web.md."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal

import httpx
from playwright.sync_api import Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.web.month import spend_a_month
from tests.web.world import World, user_ids


def test_a_month_of_spend_draws_the_burn_down_the_api_reports(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    settings = live_server.settings
    charged = spend_a_month(
        web_database, settings.database_app_role, settings.default_timezone, "MKTG", "80.00"
    )
    assert charged > 0
    user_id, org_id = user_ids(web_database, "dept_manager@acme.com.au")
    bearer = {"Authorization": f"Bearer {token_signer(settings).issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30) as api:
        mktg = next(d for d in api.get("/v1/departments").json()["items"] if d["code"] == "MKTG")["id"]
        burn = api.get(f"/v1/reports/departments/{mktg}/burn-down").json()
        api_csv = api.get(f"/v1/reports/departments/{mktg}/burn-down", params={"format": "csv"}).text

    page = sign_in(World.acme("dept_manager"), f"/reports/{mktg}")
    chart = page.get_by_test_id("burn-down-chart")
    expect(chart).to_be_visible()
    points = chart.locator("circle").evaluate_all(
        "cs => cs.map(c => [c.dataset.day, c.dataset.cumulativeAud])"
    )
    assert [(d, Decimal(c)) for d, c in points] == [
        (day["day"], Decimal(day["cumulative_aud"])) for day in burn["days"]
    ]
    assert Decimal(chart.get_attribute("data-spent-aud") or "") == Decimal(burn["spent_aud"]) > 0
    rising = [Decimal(c) for _, c in points]
    assert rising == sorted(rising)  # charges only: cumulative spend never falls
    with page.expect_download() as download:
        page.get_by_role("link", name="Burn-down by day (CSV)").click()
    page_csv = download.value.path().read_text(encoding="utf-8")
    assert page_csv == api_csv
    rows = list(csv.DictReader(io.StringIO(page_csv.removeprefix("\ufeff"))))
    assert [r["day"] for r in rows][-1] == burn["period_end"] and "budget_line_aud" not in rows[0]
    for testid in ("burn-down-chart", "burn-down-chart-phone"):  # both drawings: the same series
        drawn = (
            page.get_by_test_id(testid)
            .locator("path[data-series]")
            .evaluate_all("ps => ps.map(p => [p.dataset.series, p.dataset.figures])")
        )
        assert sorted(name for name, _ in drawn) == sorted(
            ["cumulative_aud", "budget_aud", "forecast_straight_line_aud", "forecast_trailing_7_day_aud"]
        )
        for name, figures in drawn:
            pairs = [pair.split("=") for pair in figures.split()]
            assert [(day, Decimal(v)) for day, v in pairs] == [
                (r["day"], Decimal(r[name])) for r in rows if r[name]
            ], f"{testid}: {name}"
    budget_line = {r["day"]: Decimal(r["budget_aud"]) for r in rows}
    assert set(budget_line.values()) == {Decimal("80.00")}  # set before the month: one level throughout
    labels = (
        page.get_by_test_id("burn-down-chart")
        .locator(".axis text")
        .evaluate_all("ts => ts.map(t => t.textContent)")
    )
    ticks = [_amount(label) for label in labels[:-3]]  # the last three name days
    step = ticks[1] - ticks[0]
    highest = max(Decimal(r[name]) for r in rows for name in list(r)[2:] if r[name])
    assert ticks == [step * k for k in range(len(ticks))]  # round steps ...
    assert ticks[-2] < highest <= ticks[-1]  # ... to just above the largest figure drawn
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_test_id("burn-down-chart")).to_be_hidden()
    phone = page.get_by_test_id("burn-down-chart-phone").bounding_box()
    assert phone is not None and phone["height"] >= 220, phone
    page.set_viewport_size({"width": 1280, "height": 900})
    looks_right(page, "dashboard-month")
    assert page_errors == []


def _amount(label: str) -> Decimal:
    """An axis label's amount: A$0.05, A$80, A$2.5k."""
    text = label.removeprefix("A$")
    return Decimal(text.removesuffix("k")) * 1000 if text.endswith("k") else Decimal(text)

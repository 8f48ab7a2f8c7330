"""A month of real spend on the dashboard: the burn-down climbs day by day towards the budget, its
points and forecasts are the report API's, and the page is the screenshot in docs/web.md."""

from __future__ import annotations

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
    looks_right(page, "dashboard-month")
    assert page_errors == []

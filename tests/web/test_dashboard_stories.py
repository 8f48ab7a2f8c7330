"""Budget reports in a real browser: the manager's dashboard agrees with the report API to the cent and
stops at their own department; finance reads every department but changes nothing; an org admin
approves a request for more budget and the dashboard shows the top-up."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
from playwright.sync_api import Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.support.navigation import nav_link
from tests.web.world import World, department_id, user_ids


@contextmanager
def _api(live_server: LiveServer, web_database: str, role: str) -> Iterator[httpx.Client]:
    user_id, org_id = user_ids(web_database, f"{role}@acme.com.au")
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30) as client:
        yield client


def _spend(api: httpx.Client, images: int) -> None:
    """A real charge through the API and the worker (the local model: A$0.01 an image)."""
    created = api.post(
        "/v1/generations", json={"prompt": "a lighthouse", "model": "local/pillow-sketch", "n": images}
    )
    assert created.status_code == 202, created.text
    deadline = time.monotonic() + 30
    while api.get(f"/v1/generations/{created.json()['id']}").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the generation did not complete"
        time.sleep(0.2)


def _departments(api: httpx.Client) -> dict[str, str]:
    rollup = api.get("/v1/reports/organization").json()
    return {d["department_code"]: d["department_id"] for d in rollup["departments"]}


def _money(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


def _cents(api_figure: str) -> Decimal:
    """What a page shows of the API's figure: totals to the cent."""
    return Decimal(api_figure).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _rows(page: Page, testid: str) -> dict[str, Decimal]:
    rows: list[dict[str, Any]] = (
        page.get_by_test_id(testid)
        .locator("tbody tr")
        .evaluate_all("rows => rows.map(r => ({key: r.dataset.key, net: r.dataset.netAud}))")
    )
    return {row["key"]: Decimal(row["net"]) for row in rows}


def test_a_manager_reads_their_dashboard_as_the_api_reports_it_and_asks_for_more(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    with _api(live_server, web_database, "power_user") as power:
        _spend(power, 2)
    with _api(live_server, web_database, "dept_manager") as manager:
        _spend(manager, 1)
        mktg = _departments_as_admin(live_server, web_database)["MKTG"]
        base = f"/v1/reports/departments/{mktg}"
        status = manager.get(f"{base}/status").json()
        burn = manager.get(f"{base}/burn-down").json()
        by_user = manager.get(f"{base}/spend/user").json()
        by_model = manager.get(f"{base}/spend/model").json()
        user_csv = manager.get(f"{base}/spend/user", params={"format": "csv"}).text

    page = sign_in(World.acme("dept_manager"), "/reports")
    expect(page).to_have_url(f"{live_server.url}/reports/{mktg}")
    expect(page.get_by_role("heading", name="Marketing (MKTG) budget")).to_be_visible()
    assert page.title() == "Marketing budget · DonatelloAI"  # the tab names the page, nothing else
    assert (
        _money(page.get_by_test_id("spent").inner_text())
        == _cents(status["totals"]["net_aud"])
        == Decimal("0.03")
    )
    assert _money(page.get_by_test_id("available").inner_text()) == _cents(status["available_aud"])
    assert _money(page.get_by_test_id("budget").inner_text().split("(")[0]) == _cents(status["budget_aud"])
    chart = page.get_by_test_id("burn-down-chart")
    assert Decimal(chart.get_attribute("data-spent-aud") or "") == Decimal(burn["spent_aud"])
    assert Decimal(chart.get_attribute("data-forecast-straight-line-aud") or "") == Decimal(
        burn["forecast_straight_line_aud"]
    )
    assert Decimal(chart.get_attribute("data-forecast-trailing-7-day-aud") or "") == Decimal(
        burn["forecast_trailing_7_day_aud"]
    )
    points = chart.locator("circle").evaluate_all(
        "cs => cs.map(c => [c.dataset.day, c.dataset.cumulativeAud, c.dataset.budgetAud])"
    )
    assert [(d, Decimal(c), Decimal(b)) for d, c, b in points] == [
        (day["day"], Decimal(day["cumulative_aud"]), Decimal(day["budget_aud"])) for day in burn["days"]
    ]
    assert _rows(page, "spend-user") == {r["key"]: Decimal(r["net_aud"]) for r in by_user["rows"]}
    assert _rows(page, "spend-model") == {r["key"]: Decimal(r["net_aud"]) for r in by_model["rows"]}
    # The keyboard reaches the period picker and the request form from the top of the page.
    reached: set[str] = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(
            page.evaluate("() => document.activeElement.id || document.activeElement.textContent.trim()")
        )
        if "Request more budget" in reached:
            break
    assert {"period", "ask-amount-aud", "ask-reason", "Request more budget"} <= reached
    by_person = page.get_by_test_id("spend-user")
    by_person.get_by_role("button", name="Spend").click()
    expect(by_person.locator("thead th").nth(2)).to_have_attribute("aria-sort", "ascending")
    by_person.get_by_role("button", name="Spend").click()  # highest first: the top spenders
    expect(by_person.locator("tbody th").first).to_have_text("power_user@acme.com.au")
    with page.expect_download() as download:
        page.get_by_role("link", name="By person (CSV)").click()
    assert download.value.suggested_filename.startswith("MKTG-spend-by-user-")
    assert Path(download.value.path()).read_text(encoding="utf-8") == user_csv
    expect(page.get_by_role("link", name="Requests", exact=True)).to_have_count(0)

    looks_right(page, "dashboard")

    page.get_by_label("Amount (A$)").fill("150")
    page.get_by_label("Reason").fill("Campaign launch in the last week")
    page.get_by_role("button", name="Request more budget").click()
    expect(page.get_by_role("status")).to_contain_text("Your request for more budget was sent")
    expect(page.get_by_test_id("department-request")).to_contain_text("A$150.00")
    expect(page.get_by_role("button", name="Request more budget")).to_be_visible()  # still usable

    nav_link(page, "Models").click()
    expect(page.locator("tr[data-model='local/pillow-sketch']")).to_contain_text("A$0.01")
    looks_right(page, "models")
    assert page_errors == []

    engg = _departments_as_admin(live_server, web_database)["ENGG"]
    for address in (f"/reports/{engg}", f"/reports/{engg}/user.csv"):
        response = page.goto(live_server.url + address)
        assert response is not None and response.status == 404, address
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def test_a_power_user_creates_an_api_key_that_works_once_shown_and_revokes_it(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    page = sign_in(World.acme("power_user"), "/api-keys")
    scopes = page.locator("input[name=scopes]").evaluate_all("boxes => boxes.map(b => b.value)")
    assert "budgets:manage" not in scopes and "generations:create" in scopes  # only what they hold
    page.get_by_label("Name").fill("CI pipeline")
    page.get_by_label("generations:create").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-secret").input_value()
    assert secret not in page.url  # post-redirect-get: the address names the key, not its secret
    with httpx.Client(base_url=live_server.url, trust_env=False) as api:
        assert api.get("/v1/generations", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        looks_right(page, "api-keys")
        page.reload()  # no second POST, and the secret is not shown again
        expect(page.get_by_test_id("secret-gone")).to_contain_text("CI pipeline")
        looks_right(page, "api-keys-reloaded")
        expect(page.get_by_test_id("new-secret")).to_have_count(0)
        assert secret not in page.content()
        with _api(live_server, web_database, "power_user") as owner:
            assert [k["name"] for k in owner.get("/v1/api-keys").json()["items"]] == ["CI pipeline"]
        page.goto(f"{live_server.url}/api-keys")
        expect(page.get_by_test_id("new-secret")).to_have_count(0)
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("li[data-key-name='CI pipeline']").get_by_role("button", name="Revoke").click()
        expect(page.get_by_role("status")).to_have_text("Revoked CI pipeline: it no longer works.")
        assert api.get("/v1/generations", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert page_errors == []


def _departments_as_admin(live_server: LiveServer, web_database: str) -> dict[str, str]:
    with _api(live_server, web_database, "org_admin") as admin:
        return _departments(admin)


def test_finance_reads_every_department_but_an_org_admin_decides_and_the_dashboard_shows_the_top_up(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    mktg = _departments_as_admin(live_server, web_database)["MKTG"]
    with _api(live_server, web_database, "dept_manager") as manager:
        asked = manager.post(
            f"/v1/departments/{mktg}/budget/requests",
            json={"amount_aud": "150.00", "reason": "Campaign launch", "scope": "this_period"},
        )
        assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]

    finance = sign_in(World.acme("finance"), "/reports")
    expect(finance.get_by_role("heading", name="Department budgets")).to_be_visible()
    codes = (
        finance.get_by_test_id("departments")
        .locator("tbody tr")
        .evaluate_all("rows => rows.map(r => r.dataset.department)")
    )
    assert sorted(codes) == ["ENGG", "MKTG", "SALES"]
    expect(finance.get_by_role("link", name="Requests", exact=True)).to_have_count(0)
    looks_right(finance, "overview")
    finance.get_by_role("link", name=re.compile("^Marketing")).click()
    expect(finance.get_by_role("heading", name="Marketing (MKTG) budget")).to_be_visible()
    expect(finance.get_by_role("button", name="Request more budget")).to_have_count(0)
    expect(finance.get_by_role("link", name="Decide")).to_have_count(0)
    expect(finance.get_by_role("button", name="Save settings")).to_have_count(0)
    assert page_errors == []

    finance.get_by_role("link", name="Exports").click()
    with finance.expect_download() as small:
        finance.get_by_role("button", name="Export").click()
    assert re.fullmatch(
        r"acme-corporation-cost-events-\d{4}-\d{2}-01-\d{4}-\d{2}-\d{2}\.csv", small.value.suggested_filename
    )
    assert Path(small.value.path()).read_text(encoding="utf-8").startswith("organization_id,")
    finance.get_by_label("From").fill("2025-01-01")
    finance.get_by_label("Format").select_option("parquet")
    finance.get_by_role("button", name="Export").click()
    expect(finance.get_by_role("status")).to_contain_text("runs in the background")
    job = finance.locator("li.export").first
    expect(job).to_have_attribute("data-status", "done", timeout=20_000)  # the card polls itself
    expect(job.get_by_role("progressbar")).to_have_attribute("value", "100.00")
    parquet = finance.request.get(job.get_by_role("link", name="Download").get_attribute("href") or "")
    assert parquet.ok
    assert pq.read_table(io.BytesIO(parquet.body())).num_rows == 0  # nothing spent in this world
    looks_right(finance, "exports")

    token = finance.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forged = finance.request.post(
        f"{live_server.url}/budget-requests/{request_id}/decision",
        form={"csrf_token": token, "decision": "approved", "amount_aud": "150", "reason": "self-approved"},
        headers={"Origin": live_server.url},
    )
    assert forged.status == 403
    requests_page = finance.goto(f"{live_server.url}/budget-requests")
    assert requests_page is not None and requests_page.status == 403

    page_errors.clear()  # the console's notes of the two refusals just made on purpose

    admin = sign_in(World.acme("org_admin"), "/budget-requests")
    request = admin.get_by_role("article").filter(
        has_text="Dept Manager asks A$150.00 for the budget in Marketing (MKTG)"
    )
    request.get_by_label("Approve (A$)").fill("100")
    request.get_by_label("Reason").fill("Half now, the rest next month")
    looks_right(admin, "budget-requests")
    request.get_by_role("button", name="Approve").click()
    expect(admin.get_by_test_id("decided")).to_have_text("MKTG: approved A$100.00 of A$150.00 asked.")
    expect(admin.get_by_role("article")).to_have_count(0)

    admin.get_by_role("link", name="Budgets").click()
    marketing = admin.locator("tr[data-department=MKTG]")
    expect(marketing).to_contain_text("incl. A$100.00 top-up")
    marketing.get_by_role("link").click()
    expect(admin.get_by_test_id("top-up")).to_have_text("A$100.00")
    expect(admin.get_by_test_id("budget")).to_contain_text("A$5,100.00")
    steps = (
        admin.get_by_test_id("burn-down-chart")
        .locator("circle")
        .evaluate_all("cs => cs.map(c => c.dataset.budgetAud)")
    )
    assert Decimal(steps[-1]) == Decimal("5100.00")

    admin.get_by_label("Monthly budget (A$)").fill("6000")
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_role("status")).to_have_text("The budget settings were saved.")
    expect(admin.get_by_test_id("budget")).to_contain_text("A$6,100.00")
    with _api(live_server, web_database, "org_admin") as api:
        changes = api.get("/v1/audit-events", params={"event_type": "budget.changed"}).json()["items"]
    assert [c["user_email"] for c in changes] == ["org_admin@acme.com.au"]
    nav_link(admin, "Departments").click()
    admin.get_by_label("Name", exact=True).fill("Design Studio")
    admin.get_by_label("Code").fill("dstu")
    admin.get_by_role("button", name="Add department").click()
    expect(admin.get_by_role("status")).to_have_text("Added DSTU.")
    studio = admin.locator("li[data-code=DSTU]")
    studio.get_by_label("New name for DSTU").fill("Design")
    studio.get_by_role("button", name="Rename").click()
    expect(admin.get_by_role("status")).to_have_text("Renamed DSTU.")
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.locator("li[data-code=DSTU]").get_by_role("button", name="Deactivate").click()
    expect(admin.locator("li[data-code=DSTU]")).to_contain_text("inactive")
    looks_right(admin, "departments")
    nav_link(admin, "People").click()
    admin.get_by_label("Name or e-mail contains").fill("standard_user")
    admin.get_by_role("button", name="Find").click()
    role = admin.get_by_label("Role of standard_user@acme.com.au")
    assert "super_admin" not in role.locator("option").evaluate_all("os => os.map(o => o.value)")
    role.select_option("power_user")
    admin.locator("li[data-email='standard_user@acme.com.au']").get_by_role("button", name="Save").click()
    expect(admin.get_by_role("status")).to_have_text("Saved standard_user@acme.com.au.")
    expect(admin.get_by_label("Role of standard_user@acme.com.au")).to_have_value("power_user")
    looks_right(admin, "people")
    nav_link(admin, "Audit log").click()
    admin.get_by_label("Event type").select_option("budget.changed")
    admin.get_by_role("button", name="Filter").click()
    expect(admin.locator("tr[data-event-type='budget.changed']")).to_have_count(1)
    admin.get_by_role("button", name="Check the chain").click()
    expect(admin.get_by_test_id("chain-result")).to_contain_text("The chain is intact")
    expect(admin.get_by_label("Event type")).to_have_value("budget.changed")  # the filter is kept
    looks_right(admin, "audit")
    assert page_errors == []

    design = department_id(web_database, "DSGN", world.globex_id)  # another organization's department
    for address in (f"/reports/{design}", f"/reports/{design}/day.csv"):
        response = admin.goto(live_server.url + address)
        assert response is not None and response.status == 404, address

"""The audit log as an org admin reads it: every actor a person's e-mail (or "system"), never an id —
the worker's completed generation included; one budget's events under one resource, linked to its
department's dashboard; a generation linked to its page; event types picked from the catalogue."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from donatello.audit.catalogue import EVENT_TYPES
from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.web.world import World, user_ids

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _client(live_server: LiveServer, web_database: str, role: str) -> httpx.Client:
    user_id, org_id = user_ids(web_database, f"{role}@acme.com.au")
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    return httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30)


def _generate(api: httpx.Client) -> str:
    """One image through the API and the worker (the local model, A$0.01); its id once completed."""
    created = api.post("/v1/generations", json={"prompt": "a lighthouse", "model": "local/pillow-sketch"})
    assert created.status_code == 202, created.text
    deadline = time.monotonic() + 30
    while api.get(f"/v1/generations/{created.json()['id']}").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the generation did not complete"
        time.sleep(0.2)
    return str(created.json()["id"])


def _rows(page: Page) -> list[dict[str, str]]:
    return (
        page.get_by_test_id("audit-events")
        .locator("tbody tr")
        .evaluate_all(
            """rows => rows.map(r => ({
            type: r.dataset.eventType,
            who: r.querySelector('[data-label=Who]').textContent.trim(),
            resource: r.querySelector('[data-label=Resource]').dataset.resourceId,
            href: (r.querySelector('[data-label=Resource] a') || {}).pathname || '',
        }))"""
        )
    )


def test_the_audit_log_names_people_links_resources_and_picks_event_types(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    with _client(live_server, web_database, "power_user") as power:
        generation = _generate(power)
    with _client(live_server, web_database, "org_admin") as admin:
        mktg = next(d for d in admin.get("/v1/departments").json()["items"] if d["code"] == "MKTG")["id"]
        lowered = admin.patch(f"/v1/departments/{mktg}/budget", json={"monthly_budget_aud": "0.01"})
        assert lowered.status_code == 200, lowered.text  # A$0.01 spent of A$0.01: every alert fires

    page = sign_in(World.acme("org_admin"), "/audit")
    deadline = time.monotonic() + 30
    while {"generation.completed", "budget.changed", "budget.threshold_crossed"} - {
        row["type"] for row in _rows(page)
    }:
        assert time.monotonic() < deadline, _rows(page)
        page.reload()
    rows = _rows(page)
    assert [row for row in rows if UUID.search(row["who"])] == []  # nobody is an id
    assert {row["who"] for row in rows} <= {"power_user@acme.com.au", "org_admin@acme.com.au", "system"}
    (completed,) = [row for row in rows if row["type"] == "generation.completed"]
    assert (completed["who"], completed["href"]) == ("power_user@acme.com.au", f"/gallery/{generation}")
    budget_rows = [row for row in rows if row["type"].startswith("budget.") and row["resource"]]
    assert {row["type"] for row in budget_rows} >= {"budget.changed", "budget.threshold_crossed"}
    assert len({row["resource"] for row in budget_rows if row["type"] != "budget.reservation_released"}) == 1
    assert {row["href"] for row in budget_rows if row["type"] != "budget.reservation_released"} == {
        f"/reports/{mktg}"
    }

    picker = page.get_by_label("Event type")
    offered = picker.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert offered[0] == "" and set(offered[1:]) == set(EVENT_TYPES)
    assert {row["type"] for row in rows} <= set(EVENT_TYPES)  # everything recorded here is pickable
    picker.select_option("budget.changed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-event-type='budget.changed']")).to_have_count(1)
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(picker).to_have_value("budget.changed")
    page.get_by_role("link", name="History of this department budget").click()  # one budget, whole story
    kinds = {row["type"] for row in _rows(page)}
    assert {"budget.changed", "budget.threshold_crossed"} <= kinds
    looks_right(page, "audit-log")
    page.get_by_role("link", name="department budget").first.click()
    expect(page).to_have_url(f"{live_server.url}/reports/{mktg}")
    opened = page.goto(live_server.url + completed["href"])  # the generation's page opens for its auditor
    assert opened is not None and opened.status == 200
    assert page_errors == []

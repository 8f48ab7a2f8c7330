"""An org admin requires a department's generations to be processed in Australia from the Departments
page, and lifts the rule again; both are audited."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.web.world import World, user_ids


def test_an_org_admin_requires_processing_in_australia_and_lifts_it(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    admin = sign_in(World.acme("org_admin"), "/departments")
    marketing = admin.locator("li[data-code=MKTG]")
    expect(marketing.get_by_test_id("processed-in")).to_have_text("processed anywhere")

    marketing.get_by_label("Process MKTG's generations only in").fill("au")
    marketing.get_by_role("button", name="Save country").click()
    expect(admin.get_by_role("status")).to_have_text("Saved the processing country of MKTG.")
    expect(admin.locator("li[data-code=MKTG]").get_by_test_id("processed-in")).to_have_text("processed in AU")
    looks_right(admin, "departments-residency")

    user_id, org_id = user_ids(web_database, "org_admin@acme.com.au")
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30) as api:
        listed = api.get("/v1/departments").json()["items"]
        assert next(d for d in listed if d["code"] == "MKTG")["require_processing_in"] == "AU"

        lifted = admin.locator("li[data-code=MKTG]")
        lifted.get_by_label("Process MKTG's generations only in").fill("")
        lifted.get_by_role("button", name="Save country").click()
        expect(admin.locator("li[data-code=MKTG]").get_by_test_id("processed-in")).to_have_text(
            "processed anywhere"
        )
        events = api.get("/v1/audit-events", params={"event_type": "department.updated"}).json()["items"]
    residency = [e["metadata"]["changes"]["require_processing_in"] for e in events]
    assert residency == [{"from": "AU", "to": None}, {"from": None, "to": "AU"}]  # newest first
    assert page_errors == []

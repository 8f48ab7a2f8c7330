"""Asking for more in a real browser: a standard user refused by their cap asks from the refusal card,
the org admin decides it with the context in front of them, the user is told (the bell, the inbox and an
e-mail through the loopback SMTP server) and reads the answer in "My requests", and their next request is
admitted; the manager's dashboard names the asker and keeps its own form."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.support.smtp_server import SmtpServer, mail_to
from tests.web.world import World, user_ids


def _cap_marketing(live_server: LiveServer, web_database: str, cap: str) -> str:
    """The org admin sets Marketing's per-person cap through the API; returns Marketing's id."""
    user_id, org_id = user_ids(web_database, "org_admin@acme.com.au")
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30) as admin:
        rollup = admin.get("/v1/reports/organization").json()
        mktg = next(d["department_id"] for d in rollup["departments"] if d["department_code"] == "MKTG")
        changed = admin.patch(f"/v1/departments/{mktg}/budget", json={"per_user_monthly_cap_aud": cap})
        assert changed.status_code == 200, changed.text
    return str(mktg)


def _generate(page: Page, images: int) -> None:
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    page.get_by_label("Images").select_option(str(images))
    page.get_by_label("Model").select_option("local/pillow-sketch")
    expect(page.get_by_test_id("quote-total")).to_have_text(f"A$0.0{images}")
    page.get_by_role("button", name="Generate").click()


def _told(page: Page) -> None:
    """Open the inbox from the bell, reloading until the worker has fanned the committed decision out."""
    page.get_by_test_id("bell").click()
    deadline = time.monotonic() + 30
    while not page.get_by_test_id("unread").count() and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        page.reload()


def test_a_capped_user_asks_from_the_refusal_and_the_admin_grants_part_of_it(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
    smtp_server: SmtpServer,
) -> None:
    mail_before = len(smtp_server.received)
    mktg = _cap_marketing(live_server, web_database, "0.05")

    user = sign_in(World.acme("standard_user"))
    expect(user.get_by_test_id("may-spend")).to_contain_text("A$0.05")
    _generate(user, 4)  # A$0.04 held: A$0.01 of the cap is left
    expect(user.get_by_role("status")).to_be_visible(timeout=30_000)
    _generate(user, 4)
    refusal = user.get_by_role("alert")
    expect(
        refusal.get_by_role("heading", name="Your monthly cap has A$0.01 left, less than this request needs")
    ).to_be_visible()
    expect(refusal).to_contain_text("Your cap in MKTG is A$0.05 this month and A$0.04 of it is used or held")
    expect(refusal.get_by_role("heading", name="Ask for A$0.03 more")).to_be_visible()
    expect(refusal.get_by_label("Amount (A$)")).to_have_value("0.03")
    looks_right(user, "refusal-ask")
    page_errors.clear()  # the console's note of the 402 the refusal page came with

    refusal.get_by_label("Amount (A$)").fill("0.50")
    refusal.get_by_label("Reason").fill("Client pitch on Friday")
    refusal.get_by_role("button", name="Send the request").click()
    expect(user.get_by_role("status")).to_contain_text("Your request was sent")
    expect(user.get_by_test_id("my-request")).to_contain_text("Waiting for a decision")

    admin = sign_in(World.acme("org_admin"), "/budget-requests")
    expect(admin.get_by_test_id("waiting-count")).to_have_text("1 waiting")
    request = admin.get_by_role("article").filter(has_text="Standard User asks A$0.50 for their own cap")
    expect(request.get_by_test_id("request-kind")).to_contain_text("Cap of Standard User")
    context = request.get_by_test_id("request-context")
    expect(context).to_contain_text("MKTG budget")
    expect(context).to_contain_text("Standard User spent or holds this period")
    request.get_by_label("Approve (A$)").fill("0.30")
    request.get_by_label("Reason").fill("Part now; ask again mid-month")
    looks_right(admin, "budget-requests-context")
    request.get_by_role("button", name="Approve").click()
    expect(admin.get_by_test_id("decided")).to_contain_text("approved A$0.30 of A$0.50")

    _told(user)
    expect(user.get_by_test_id("bell").get_by_test_id("unread")).to_have_text("1 unread")
    told = user.get_by_test_id("notifications").locator("li[data-kind='budget_request_decided']")
    expect(told).to_have_count(1)
    expect(told).to_contain_text("A$0.30 of A$0.50 approved")
    expect(told).to_contain_text("Your request for A$0.50 more on your cap was approved: A$0.30 of A$0.50.")
    expect(told).to_contain_text("Reason: Part now; ask again mid-month")
    looks_right(user, "notifications-cap-decided")
    mail = mail_to(smtp_server, "standard_user@acme.com.au", "A$0.30 of A$0.50 approved", after=mail_before)
    assert mail.message["To"] == "standard_user@acme.com.au"
    assert "approved: A$0.30 of A$0.50" in mail.text, mail.text
    assert "Reason: Part now; ask again mid-month" in mail.text, mail.text
    _told(admin)  # the admin was told of the request too, as a person's cap rather than the department's
    waiting = admin.get_by_test_id("notifications").locator("li[data-kind='budget_request_waiting']")
    expect(waiting).to_contain_text("asked for A$0.50 more on a person's cap in Marketing")

    user.get_by_role("navigation", name="Main").get_by_role("link", name="My requests").click()
    answer = user.get_by_test_id("my-request")
    expect(answer).to_contain_text("Approved A$0.30 of A$0.50")
    expect(answer).to_contain_text("Part now; ask again mid-month")
    looks_right(user, "my-requests")
    user.get_by_role("navigation", name="Main").get_by_role("link", name="My usage").click()
    expect(user.get_by_test_id("may-spend")).to_have_text("A$0.31")  # the cap 0.05 + 0.30, less the 0.04 used
    looks_right(user, "usage-cap")
    user.get_by_role("navigation", name="Main").get_by_role("link", name="Generate").click()
    _generate(user, 4)
    expect(user.get_by_role("alert")).to_have_count(0)
    expect(user.locator("#progress article.card")).to_be_visible(timeout=30_000)

    manager = sign_in(World.acme("dept_manager"), f"/reports/{mktg}")
    listed = manager.get_by_test_id("department-request").filter(has_text="Standard User")
    expect(listed).to_contain_text("asked A$0.50 for their own cap")
    expect(listed).to_contain_text("approved A$0.30")
    expect(manager.get_by_role("button", name="Request more budget")).to_be_enabled()
    looks_right(manager, "dashboard-requests")
    assert page_errors == []

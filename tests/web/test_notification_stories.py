"""Being told, in a real browser: a manager's request for more budget is decided by an org admin; the
manager's bell shows one unread notification, the inbox states the amounts and the reason, marking it
read clears the count, and the e-mail (read from the loopback SMTP server the live server sends through)
says the same."""

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

REASON = "Half now; ask again mid-month"


def _api(live_server: LiveServer, web_database: str, role: str) -> httpx.Client:
    user_id, org_id = user_ids(web_database, f"{role}@acme.com.au")
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    return httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30)


def test_a_manager_hears_the_decision_in_the_bell_the_inbox_and_by_email(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
    smtp_server: SmtpServer,
) -> None:
    mail_before = len(smtp_server.received)
    with _api(live_server, web_database, "dept_manager") as manager:
        department_id = manager.get("/v1/me").json()["department_id"]
        asked = manager.post(
            f"/v1/departments/{department_id}/budget/requests",
            json={"amount_aud": "0.50", "reason": "Launch week", "scope": "this_period"},
        )
        assert asked.status_code == 201, asked.text
    with _api(live_server, web_database, "org_admin") as admin:
        decided = admin.post(
            f"/v1/budget-requests/{asked.json()['id']}/decision",
            json={"decision": "approved", "amount_aud": "0.30", "reason": REASON},
        )
        assert decided.status_code == 200, decided.text

    page = sign_in(World.acme("dept_manager"), "/notifications")
    deadline = time.monotonic() + 30
    while not page.get_by_test_id("unread").count() and time.monotonic() < deadline:
        page.wait_for_timeout(300)  # the worker fans the committed decision out within a second or so
        page.reload()
    expect(page.get_by_test_id("unread")).to_have_text("1 unread")
    told = page.get_by_test_id("notifications").locator("li[data-kind='budget_request_decided']")
    expect(told).to_have_count(1)
    expect(told).to_contain_text("A$0.30 of A$0.50 approved")
    expect(told).to_contain_text(REASON)
    looks_right(page, "notifications-unread")
    notification = (told.get_attribute("id") or "").removeprefix("n-")

    # Someone else's notification is not found to them; the owner's form without its token is refused.
    admin_page = sign_in(World.acme("org_admin"), "/notifications")
    expect(admin_page.get_by_test_id("notifications")).not_to_contain_text("A$0.30 of A$0.50 approved")
    admin_token = admin_page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    someone_elses = admin_page.request.post(
        f"{live_server.url}/notifications/{notification}/read",
        form={"csrf_token": admin_token},
        headers={"Origin": live_server.url},
    )
    no_token = page.request.post(
        f"{live_server.url}/notifications/{notification}/read", form={}, headers={"Origin": live_server.url}
    )
    assert (someone_elses.status, no_token.status) == (404, 403)
    page.reload()
    expect(page.get_by_test_id("unread")).to_have_text("1 unread")
    page_errors.clear()  # the console's notes of the refusals made on purpose

    told.get_by_role("button", name="Mark read").click()
    expect(page.get_by_test_id("unread")).to_have_count(0)
    expect(page.get_by_role("heading", name="All read")).to_be_visible()
    looks_right(page, "notifications-read")

    decided_choice = page.get_by_label("your request for more budget was decided")
    decided_choice.uncheck()
    page.get_by_role("button", name="Save e-mail choices").click()
    expect(page.get_by_role("status")).to_have_text("Your e-mail choices are saved.")
    expect(decided_choice).not_to_be_checked()
    expect(page.get_by_label("your generation failed or was refused by the safety system")).to_be_checked()

    page.goto(f"{live_server.url}/usage")  # the bell is on every page, and now shows no count
    expect(page.get_by_test_id("bell")).to_be_visible()
    expect(page.get_by_test_id("unread")).to_have_count(0)

    mail = mail_to(smtp_server, "dept_manager@acme.com.au", "A$0.30 of A$0.50 approved", after=mail_before)
    assert mail.message["To"] == "dept_manager@acme.com.au"
    assert "A$0.30 of A$0.50" in mail.text and REASON in mail.text
    assert page_errors == []

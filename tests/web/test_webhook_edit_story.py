"""Changing a webhook's address and events on its page, in a real browser: an address that does not
resolve is said beside the field with what was typed (and the events chosen) kept; a good one is saved,
audited, and the next delivery goes there, signed with the same secret. Another organization's person
cannot change it (not found)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.support.webhook_receiver import Receiver
from tests.web.world import World, user_ids


def sent(page: Page, button_name: str) -> int:
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name=button_name).click()
    page.wait_for_load_state()
    return answer.value.status


def test_a_webhook_owner_moves_it_to_a_new_address_and_changes_its_events(
    world: World,
    live_server: LiveServer,
    web_database: str,
    webhook_receiver: Receiver,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    webhook_receiver.reset()
    power = sign_in(World.acme("power_user"), "/webhooks")
    power.get_by_label("Address").fill(webhook_receiver.url("/first"))
    power.get_by_label("generation.completed").check()
    power.get_by_role("button", name="Add webhook").click()
    expect(power).to_have_url(re.compile(r"/webhooks/[0-9a-f-]{36}$"))
    webhook_url = power.url
    webhook_id = webhook_url.rsplit("/", 1)[1]

    change = power.get_by_role("region", name="Change address and events")
    address = change.get_by_label("New address")
    expect(address).to_have_value(webhook_receiver.url("/first"))
    expect(change.get_by_label("generation.completed")).to_be_checked()
    address.fill("https://no-such-host.invalid/moved")
    change.get_by_label("budget.exceeded").check()
    assert sent(power, "Save changes") == 422
    change = power.get_by_role("region", name="Change address and events")
    address = change.get_by_label("New address")
    expect(address).to_have_attribute("aria-invalid", "true")
    expect(address).to_have_value("https://no-such-host.invalid/moved")
    expect(power.locator("#edit-url-error")).to_contain_text(
        "No server could be found at no-such-host.invalid"
    )
    expect(change.get_by_label("budget.exceeded")).to_be_checked()
    expect(change.get_by_label("generation.completed")).to_be_checked()
    expect(power.get_by_test_id("webhook-url")).to_have_text(webhook_receiver.url("/first"))  # unchanged
    looks_right(power, "webhook-edit-refused")

    address.fill(webhook_receiver.url("/moved"))
    change.get_by_label("generation.completed").uncheck()
    assert sent(power, "Save changes") == 303
    expect(power.get_by_role("status")).to_have_text("Saved the address and events.")
    expect(power.get_by_test_id("webhook-url")).to_have_text(webhook_receiver.url("/moved"))
    expect(power.get_by_role("region", name="Where and what")).to_contain_text("budget.exceeded")
    expect(power.get_by_role("region", name="Where and what")).not_to_contain_text("generation.completed")
    looks_right(power, "webhook-edited")

    power.get_by_role("button", name="Ping", exact=True).click()
    deadline = time.monotonic() + 30
    while not webhook_receiver.received and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [hit.path for hit in webhook_receiver.received] == ["/moved"]

    user_id, org_id = user_ids(web_database, "org_admin@acme.com.au")  # who reads the audit log
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30) as api:
        events = api.get("/v1/audit-events", params={"resource_id": webhook_id}).json()["items"]
        updated = [e["metadata"]["changed"] for e in events if e["event_type"] == "webhook.updated"]
        assert updated == [{"host": webhook_receiver.hostname, "event_types": ["budget.exceeded"]}]

    outsider = sign_in(World.globex(), "/webhooks")
    token = outsider.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forged = outsider.request.post(
        webhook_url,
        form={"csrf_token": token, "url": "https://evil.example/", "events": "budget.exceeded"},
        headers={"Origin": live_server.url},
    )
    assert forged.status == 404
    power.reload()
    expect(power.get_by_test_id("webhook-url")).to_have_text(webhook_receiver.url("/moved"))
    page_errors.clear()  # the console's notes of the refusals made on purpose

"""Administration in a real browser: an org admin registers a webhook, sees its secret once, pings it at
a loopback receiver and watches the delivery, rotates the secret; nobody else reaches the page or forges
its forms. A super admin changes a model's price and the generate page quotes it; an org admin sees no
price controls and a forged price change is refused."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.browser import looks_right, screenshot
from tests.support.live_server import LiveServer
from tests.support.navigation import nav_link
from tests.support.webhook_receiver import Receiver
from tests.web.world import World, api_as


def _reached_by_tab(page: Page, presses: int = 80) -> set[str]:
    page.locator("body").focus()
    reached: set[str] = set()
    for _ in range(presses):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => (document.activeElement?.textContent || '').trim()"))
    return reached


def _signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in headers["donatello-signature"].split(","))
    mac = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, fields["v1"])


def _ping_delivered(page: Page, count: int) -> None:
    page.get_by_role("button", name="Ping", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Ping queued: its delivery is below.")
    pings = page.locator("[data-event='webhook.ping']")
    expect(pings).to_have_count(count)
    expect(pings.first).to_have_attribute("data-status", "delivered")  # the page polls until it is
    expect(pings.first).to_contain_text("answered HTTP 200")


def test_an_org_admin_adds_a_webhook_sees_its_secret_once_pings_it_and_rotates_it(
    world: World,
    live_server: LiveServer,
    web_database: str,
    webhook_receiver: Receiver,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    webhook_receiver.reset()
    page = sign_in(World.acme("org_admin"), "/webhooks")
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    looks_right(page, "webhooks-empty")
    page.get_by_label("Address").fill(webhook_receiver.url())
    page.get_by_label("budget.exceeded").check()
    page.get_by_role("button", name="Add webhook").click()
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/webhooks/[0-9a-f-]{36}$"))
    secret = page.get_by_test_id("webhook-secret").input_value()
    assert secret.startswith("whsec_") and secret not in page.url
    looks_right(page, "webhook-created")

    page.reload()  # a second visit: the webhook, not its secret
    expect(page.get_by_test_id("webhook-url")).to_have_text(webhook_receiver.url())
    expect(page.get_by_test_id("webhook-secret")).to_have_count(0)
    assert secret not in page.content()

    _ping_delivered(page, 1)
    [first] = webhook_receiver.received
    assert first.headers["donatello-event"] == "webhook.ping"
    assert _signed_by(secret, first.headers, first.body)
    looks_right(page, "webhook-pinged")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.get_by_test_id("webhook-secret").input_value()
    assert rotated.startswith("whsec_") and rotated != secret
    _ping_delivered(page, 2)
    second = webhook_receiver.received[-1]
    assert _signed_by(rotated, second.headers, second.body)
    assert not _signed_by(secret, second.headers, second.body)

    # Sent again, the receiver fails it this time: the page shows its answer and the retry to come.
    webhook_receiver.reset(script=[500])
    pings = page.locator("[data-event='webhook.ping']")
    pings.first.get_by_role("button", name="Send again (webhook.ping)").click()
    expect(page.get_by_role("status")).to_have_text("webhook.ping queued again: its delivery is below.")
    expect(pings.first).to_contain_text("answered HTTP 500 · 1 attempt")
    expect(pings.first).to_contain_text("next try")
    screenshot(page, "webhook-retrying")
    [again] = webhook_receiver.received
    assert again.headers["donatello-delivery"] == second.headers["donatello-delivery"]

    assert {"Ping", "Rotate secret", "Pause deliveries", "Delete"} <= _reached_by_tab(page)

    page.get_by_role("button", name="Pause deliveries").click()
    expect(page.get_by_test_id("webhook-state")).to_have_text("paused · 1 failed attempt in a row")
    expect(page.get_by_role("button", name="Ping", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Enable deliveries").click()
    expect(page.get_by_test_id("webhook-state")).to_have_text("sending")

    with api_as(live_server, web_database, "org_admin") as api:
        [registered] = api.get("/v1/webhooks").json()["items"]
        assert registered["webhook_url"] == webhook_receiver.url()
        audited = [
            e["event_type"]
            for e in api.get("/v1/audit-events", params={"resource_type": "webhook"}).json()["items"]
        ]
    for event in ("webhook.created", "webhook.pinged", "webhook.secret_rotated", "webhook.updated"):
        assert event in audited, (event, audited)

    page.get_by_role("link", name="Webhooks").first.click()
    expect(page.locator(f"[data-webhook='{webhook_receiver.url()}']")).to_contain_text("budget.exceeded")
    looks_right(page, "webhooks")

    page.get_by_role("link", name=webhook_receiver.url()).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted the webhook to 127.0.0.1.")
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    assert page_errors == []


def test_a_power_user_keeps_their_own_webhooks_and_never_reaches_anyone_elses(
    world: World,
    live_server: LiveServer,
    web_database: str,
    webhook_receiver: Receiver,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    with api_as(live_server, web_database, "org_admin") as admin:
        made = admin.post(
            "/v1/webhooks", json={"webhook_url": webhook_receiver.url(), "event_types": ["budget.exceeded"]}
        )
        assert made.status_code == 201, made.text
    webhook = made.json()["id"]

    # A standard user holds no webhooks: no link, and the page is refused.
    standard = sign_in(World.acme("standard_user"), "/")
    expect(
        standard.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks")
    ).to_have_count(0)
    refused = standard.goto(live_server.url + "/webhooks")
    assert refused is not None and refused.status == 403

    # A power user (webhooks:own) sees their own webhooks only; the admin's is not found, nor changed.
    power = sign_in(World.acme("power_user"), "/")
    nav_link(power, "Webhooks").click()
    expect(power.get_by_role("heading", name="Your webhooks")).to_be_visible()
    expect(power.get_by_text("No webhooks yet.")).to_be_visible()
    looks_right(power, "webhooks-own")
    response = power.goto(f"{live_server.url}/webhooks/{webhook}")
    assert response is not None and response.status == 404
    token = power.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    for action in ("rotate-secret", "ping", "delete"):
        forged = power.request.post(
            f"{live_server.url}/webhooks/{webhook}/{action}",
            form={"csrf_token": token},
            headers={"Origin": live_server.url},
        )
        assert forged.status == 404, action
    power.goto(live_server.url + "/webhooks")
    power.get_by_label("Address").fill(webhook_receiver.url("/mine"))
    power.get_by_label("generation.completed").check()
    power.get_by_role("button", name="Add webhook").click()
    assert power.get_by_test_id("webhook-secret").input_value().startswith("whsec_")
    power.goto(live_server.url + "/webhooks")
    expect(power.locator("[data-webhook]")).to_have_count(1)
    expect(power.locator("[data-webhook]").first).to_have_attribute(
        "data-webhook", webhook_receiver.url("/mine")
    )
    with api_as(live_server, web_database, "org_admin") as admin:
        mine = admin.get("/v1/webhooks").json()["items"]
        assert {w["webhook_url"] for w in mine} == {webhook_receiver.url(), webhook_receiver.url("/mine")}
        changed = admin.get("/v1/audit-events", params={"resource_id": webhook}).json()["items"]
        assert [e["event_type"] for e in changed] == ["webhook.created"]

    # An org admin's own form without its CSRF token, or sent from another site, is refused too.
    admin_page = sign_in(World.acme("org_admin"), f"/webhooks/{webhook}")
    admin_token = admin_page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    no_token = admin_page.request.post(
        f"{live_server.url}/webhooks/{webhook}/rotate-secret", form={}, headers={"Origin": live_server.url}
    )
    cross_site = admin_page.request.post(
        f"{live_server.url}/webhooks/{webhook}/rotate-secret",
        form={"csrf_token": admin_token},
        headers={"Origin": "https://evil.example"},
    )
    assert (no_token.status, cross_site.status) == (403, 403)
    with api_as(live_server, web_database, "org_admin") as admin:
        audited = admin.get("/v1/audit-events", params={"event_type": "webhook.secret_rotated"}).json()
    assert audited["items"] == []
    page_errors.clear()  # the console's notes of the refusals made on purpose

    # Twenty a page, newest first.
    with api_as(live_server, web_database, "org_admin") as admin:
        for n in range(20):
            more = {"webhook_url": webhook_receiver.url(f"/hook/{n}"), "event_types": ["budget.exceeded"]}
            assert admin.post("/v1/webhooks", json=more).status_code == 201
    admin_page.goto(f"{live_server.url}/webhooks")
    listed = admin_page.locator("[data-webhook]")
    expect(listed).to_have_count(20)
    expect(listed.first).to_have_attribute("data-webhook", webhook_receiver.url("/hook/19"))
    admin_page.get_by_role("link", name="Older webhooks").click()  # the power user's and the first
    expect(listed).to_have_count(2)
    expect(listed.first).to_have_attribute("data-webhook", webhook_receiver.url("/mine"))
    expect(listed.last).to_have_attribute("data-webhook", webhook_receiver.url())
    expect(admin_page.get_by_role("link", name="Older webhooks")).to_have_count(0)
    admin_page.get_by_role("link", name="Newest webhooks").click()
    expect(listed).to_have_count(20)


def test_a_super_admin_changes_a_price_that_the_generate_page_quotes_and_no_one_else_can(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    operator = sign_in(World.platform(), "/models")
    sketch = operator.locator("[data-edit-model='local/pillow-sketch']")
    sketch.get_by_label("Per image (AUD)").fill("0.05")
    sketch.get_by_label("Quality multipliers").fill("standard=1, hd=3")
    sketch.get_by_role("button", name="Save pillow-sketch").click()
    expect(operator.get_by_role("status")).to_have_text("Saved the prices of local/pillow-sketch.")
    row = operator.locator("tr[data-model='local/pillow-sketch']")
    expect(row).to_contain_text("A$0.05")
    expect(row).to_contain_text("hd \N{MULTIPLICATION SIGN}3")
    looks_right(operator, "models-super-admin")

    stability = operator.locator("[data-edit-model='stability/sd3-medium']")
    operator.once("dialog", lambda dialog: dialog.accept())
    stability.get_by_role("button", name="Pause sd3-medium").click()
    expect(operator.locator("tr[data-model='stability/sd3-medium'] [data-testid=state]")).to_have_text(
        "paused by an administrator"
    )
    assert {"Save pillow-sketch", "Resume sd3-medium", "Add model"} <= _reached_by_tab(operator, 120)

    adding = operator.get_by_role("region", name="Add a model")
    adding.get_by_label("Provider").fill("local")
    adding.get_by_label("Model", exact=True).fill("pillow-poster")
    adding.get_by_label("Per image (AUD)").fill("0.02")
    adding.get_by_label("Endpoint").fill("local://pillow")
    adding.get_by_role("button", name="Add model").click()
    expect(operator.get_by_role("status")).to_have_text("Added local/pillow-poster.")
    expect(operator.locator("tr[data-model='local/pillow-poster']")).to_contain_text("A$0.02")

    # Everyone's quote follows at once; the paused model is no longer offered.
    power = sign_in(World.acme("power_user"), "/")
    model = power.get_by_label("Model")
    model.select_option("local/pillow-sketch")
    expect(power.get_by_test_id("quote-total")).to_have_text("A$0.05")
    power.get_by_label("Quality").select_option("hd")
    expect(power.get_by_test_id("quote-total")).to_have_text("A$0.15")
    offered = model.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert "stability/sd3-medium" not in offered

    admin = sign_in(World.acme("org_admin"), "/models")
    expect(admin.locator("tr[data-model='local/pillow-sketch']")).to_contain_text("A$0.05")
    expect(admin.get_by_role("heading", name="Change prices and state")).to_have_count(0)
    assert admin.locator("form[action^='/models']").count() == 0
    looks_right(admin, "models-org-admin")
    token = admin.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    with api_as(live_server, web_database, "org_admin") as api:
        sketch_id = next(
            p["id"] for p in api.get("/v1/providers").json()["items"] if p["model_name"] == "pillow-sketch"
        )
        for address, form in (
            (f"/models/{sketch_id}", {"price": "0.00", "sizes": "", "qualities": ""}),
            (f"/models/{sketch_id}/state", {"action": "pause"}),
            ("/models", {"provider_name": "x", "model_name": "y", "endpoint": "local://x", "price": "0"}),
        ):
            forged = admin.request.post(
                live_server.url + address,
                form={"csrf_token": token, **form},
                headers={"Origin": live_server.url},
            )
            assert forged.status == 403, address
        after = {p["model_name"]: p for p in api.get("/v1/providers").json()["items"]}
        assert (after["pillow-sketch"]["cost_per_image_aud"], after["pillow-sketch"]["is_active"]) == (
            "0.0500",
            True,
        )
        assert "y" not in after
    with api_as(live_server, web_database, "super_admin", "donatello.example") as platform:
        changes = platform.get("/v1/audit-events", params={"event_type": "provider.updated"}).json()["items"]
    assert {c["user_email"] for c in changes} == {"super_admin@donatello.example"}
    assert len(changes) == 2  # the price, the pause; nothing from the forged posts
    page_errors.clear()  # the console's notes of the refusals made on purpose


def test_the_organization_overview_reads_on_a_phone_without_scrolling_sideways(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    page = sign_in(World.acme("finance"), "/reports", width=390)
    expect(page.get_by_role("heading", name="Department budgets")).to_be_visible()
    table = page.get_by_test_id("departments")
    region = page.locator(".scroll[role=region]")
    assert region.evaluate("r => r.scrollWidth <= r.clientWidth"), "the table scrolls sideways"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    for code in ("MKTG", "ENGG"):
        row = table.locator(f"tr[data-department={code}]")
        for cell in ("spent", "used", "budget"):
            box = row.locator(f"[data-cell={cell}]").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (code, cell)
            expect(row.locator(f"[data-cell={cell}]")).to_be_visible()
    # Sorting still works on a phone.
    page.get_by_role("button", name="Spent").click()
    expect(table.locator("thead th").nth(2)).to_have_attribute("aria-sort", "ascending")
    looks_right(page, "overview")
    assert page_errors == []

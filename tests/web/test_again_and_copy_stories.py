"""Two small helps a person expects, in a real browser: "Generate again" from a past generation's page
fills the Generate form with what it was made with (its prompt for its owner only), and a one-time
secret (an API key, a webhook's signing secret) has a Copy button that puts it on the clipboard and
says "Copied"."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.browser import looks_right, status_of
from tests.support.live_server import LiveServer
from tests.support.webhook_receiver import Receiver
from tests.web.world import World


def test_generate_again_fills_the_form_from_a_past_generation(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    page = sign_in(World.acme("power_user"))
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk, watercolour")
    page.get_by_label("Negative prompt").fill("people")
    page.get_by_label("Model").select_option("local/pillow-sketch")
    page.get_by_label("Images").select_option("2")
    page.get_by_label("Style").select_option("natural")
    size, quality = page.get_by_label("Size").input_value(), page.get_by_label("Quality").input_value()
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("img", name=re.compile(r"^Generated image 2"))).to_be_visible(timeout=30_000)
    detail = str(page.get_by_role("link", name="local/pillow-sketch").get_attribute("href"))

    page.goto(live_server.url + "/")  # a fresh, empty form
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("")
    page.goto(live_server.url + detail)
    page.get_by_role("link", name="Generate again").click()
    expect(page).to_have_url(re.compile(r"/\?again=[0-9a-f-]{36}#prompt$"))
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("a lighthouse at dusk, watercolour")
    expect(page.get_by_label("Negative prompt")).to_have_value("people")
    expect(page.get_by_label("Model")).to_have_value("local/pillow-sketch")
    expect(page.get_by_label("Size")).to_have_value(size)
    expect(page.get_by_label("Quality")).to_have_value(quality)
    expect(page.get_by_label("Images")).to_have_value("2")
    expect(page.get_by_label("Style")).to_have_value("natural")
    expect(page.get_by_role("img", name=re.compile(r"^Generated image"))).to_have_count(0)  # no progress card
    looks_right(page, "generate-again")

    # Someone else who sees it (their department's manager) reuses its settings, never its prompt.
    manager = sign_in(World.acme("dept_manager"), detail)
    expect(manager.get_by_role("link", name="Generate again")).to_have_count(0)
    manager.get_by_role("link", name="Generate with these settings").click()
    expect(manager.get_by_label("Prompt", exact=True)).to_have_value("")
    expect(manager.get_by_label("Negative prompt")).to_have_value("")
    expect(manager.get_by_label("Model")).to_have_value("local/pillow-sketch")
    expect(manager.get_by_label("Images")).to_have_value("2")
    assert "a lighthouse at dusk" not in manager.content()

    # Someone who may not see it finds nothing to fill the form from.
    outsider = sign_in(World.globex(), "/")
    generation_id = detail.rsplit("/", 1)[1]
    assert status_of(outsider.goto(f"{live_server.url}/?again={generation_id}")) == 404
    page_errors.clear()  # the console's note of the 404 asked for on purpose


def _copied(page: Page, button: str, field_test_id: str) -> None:
    copy = page.get_by_role("button", name=button)
    expect(copy).to_be_visible()
    expect(page.get_by_text("Copied", exact=True)).to_have_count(0)
    copy.click()
    expect(page.get_by_text("Copied", exact=True)).to_be_visible()
    secret = page.get_by_test_id(field_test_id).input_value()
    assert page.evaluate("() => navigator.clipboard.readText()") == secret


def test_one_time_secrets_have_a_copy_button_that_says_copied(
    world: World,
    live_server: LiveServer,
    webhook_receiver: Receiver,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    page = sign_in(World.acme("power_user"), "/api-keys")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_label("Name").fill("Copy me")
    page.get_by_label("generations:create").check()
    page.get_by_role("button", name="Create key").click()
    _copied(page, "Copy key", "new-secret")
    looks_right(page, "api-key-copied")
    page.reload()  # the secret is gone, and so is its button
    expect(page.get_by_role("button", name="Copy key")).to_have_count(0)

    page.goto(live_server.url + "/webhooks")
    page.get_by_label("Address").fill(webhook_receiver.url("/copy"))
    page.get_by_label("budget.exceeded").check()
    page.get_by_role("button", name="Add webhook").click()
    _copied(page, "Copy secret", "webhook-secret")
    looks_right(page, "webhook-secret-copied")
    assert page_errors == []

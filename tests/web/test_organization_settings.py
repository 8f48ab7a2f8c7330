"""The organization's settings in a real browser: an org admin finds the Organization page in the
navigation, reads the domains people can be created at and the MFA rule with where their own sign-in
stands, switches the rule to trusting Entra's Conditional Access by keyboard, and the change holds;
a power user has no such page."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.browser import looks_right
from tests.support.navigation import nav_link
from tests.web.world import World


def test_an_org_admin_reads_the_domains_and_sets_the_mfa_rule_by_keyboard(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    admin = sign_in(World.acme("org_admin"), "/people")
    nav_link(admin, "Organization").click()
    expect(admin.get_by_role("heading", name="Acme Corporation")).to_be_visible()
    expect(admin.get_by_text("acme.com.au (primary)")).to_be_visible()
    expect(admin.get_by_test_id("mfa-standing")).to_contain_text("Your current sign-in did not meet the rule")
    expect(admin.get_by_label("The token says so")).to_be_checked()
    looks_right(admin, "organization-settings")

    trust = admin.get_by_label("Trust Entra")
    trust.focus()
    admin.keyboard.press("Space")
    expect(trust).to_be_checked()
    admin.get_by_role("button", name="Save MFA rule").focus()
    admin.keyboard.press("Enter")
    expect(admin.get_by_role("status")).to_have_text("Saved the MFA rule.")
    expect(admin.get_by_label("Trust Entra")).to_be_checked()

    admin.get_by_label("The token carries one of these").check()
    admin.get_by_role("textbox", name="Authentication contexts").fill("")
    admin.get_by_role("button", name="Save MFA rule").click()
    contexts = admin.get_by_role("textbox", name="Authentication contexts")  # the form again, said beside
    expect(contexts).to_have_attribute("aria-invalid", "true")
    expect(admin.locator("#mfa-contexts-error")).to_contain_text("at least one")
    expect(admin.get_by_label("The token carries one of these")).to_be_checked()
    page_errors.clear()  # the refused post's 422 is noted by the console on purpose

    power = sign_in(World.acme("power_user"), "/gallery")
    expect(power.get_by_role("link", name="Organization")).to_have_count(0)
    response = power.goto(power.url.split("/gallery")[0] + "/organization")
    assert response is not None and response.status == 403

"""The header as people use it: an org admin's navigation in one row with an Admin menu that works from
the keyboard; on a phone, everything behind one Menu that opens without script; notices that say
success, warning or problem by a sign as well as a colour."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy import text

from donatello.core.database import create_engine
from tests.support.browser import axe_violations, screenshot
from tests.support.idp import EntraUser
from tests.support.live_server import LiveServer
from tests.web.world import World, _run, department_id


def _put_in_department(owner_url: str, email: str, organization: uuid.UUID, code: str) -> None:
    department = department_id(owner_url, code, organization)

    async def run() -> None:
        engine = create_engine(owner_url, app_role=None, pool_size=1)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text("UPDATE users SET department_id = :department WHERE email = :email"),
                    {"department": department, "email": email},
                )
        finally:
            await engine.dispose()

    _run(run)


@pytest.fixture
def browser_without_script(browser: Browser) -> BrowserContext:
    """A phone's browser with JavaScript switched off: the menu must still open."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    context.set_default_timeout(15_000)
    return context


def _sign_in_locally(context: BrowserContext, server: LiveServer, who: str) -> Page:
    page = context.new_page()
    page.goto(server.url + "/sign-in")
    page.get_by_role("button", name=f"Sign in as {who}").click()
    page.wait_for_url(lambda url: "/sign-in" not in url)
    return page


def test_an_org_admin_opens_the_admin_menu_from_the_keyboard_and_sees_where_they_are(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page]
) -> None:
    admin = sign_in(World.acme("org_admin"))
    nav = admin.get_by_role("navigation", name="Main")
    expect(nav.locator("a[aria-current=page]")).to_have_text("Budgets")
    header = admin.locator("header.top").bounding_box()
    assert header is not None and header["height"] < 64  # one row

    organization = nav.get_by_role("link", name="Organization", exact=True)
    expect(organization).to_be_hidden()  # folded into Admin ▾
    menu = nav.locator("summary", has_text="Admin")
    menu.focus()
    admin.keyboard.press("Enter")
    expect(organization).to_be_visible()
    assert axe_violations(admin) == []  # the open menu too
    screenshot(admin, "nav-admin-menu-open")
    admin.keyboard.press("Escape")  # closes it, and the focus stays on its button
    expect(organization).to_be_hidden()
    expect(menu).to_be_focused()

    admin.keyboard.press("Enter")
    expect(organization).to_be_visible()
    for _ in range(8):  # Tab down the open menu to Organization
        admin.keyboard.press("Tab")
        if admin.evaluate("document.activeElement.textContent.trim()") == "Organization":
            break
    expect(organization).to_be_focused()
    admin.keyboard.press("Enter")
    expect(admin).to_have_url(live_server.url + "/organization")
    expect(nav.locator("a[aria-current=page]")).to_have_text("Organization")
    expect(menu).to_have_class("current")  # the closed menu says the page is inside it

    admin.mouse.click(640, 600)  # a click elsewhere closes an open menu
    menu.click()
    expect(organization).to_be_visible()
    admin.mouse.click(640, 600)
    expect(organization).to_be_hidden()


def test_on_a_phone_the_navigation_is_behind_one_menu_that_opens_without_script(
    world: World, local_server: LiveServer, browser_without_script: BrowserContext
) -> None:
    page = _sign_in_locally(browser_without_script, local_server, "Org Admin")
    nav = page.get_by_role("navigation", name="Main")
    header = page.locator("header.top")
    closed = header.bounding_box()
    assert closed is not None and closed["height"] < 64  # brand, bell and Menu on one row
    expect(nav.get_by_role("link", name="Budgets")).to_be_hidden()
    screenshot(page, "nav-phone-closed")

    header.locator("summary", has_text="Menu").click()
    expect(nav.get_by_role("link", name="Budgets")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    nav.locator("summary", has_text="Admin").click()
    expect(nav.get_by_role("link", name="People", exact=True)).to_be_visible()
    screenshot(page, "nav-phone-open")
    nav.get_by_role("link", name="People", exact=True).click()
    expect(page).to_have_url(local_server.url + "/people")
    expect(page.locator('nav[aria-label=Main] a[href="/people"]')).to_have_attribute("aria-current", "page")


def test_a_success_notice_is_green_with_a_tick_and_a_warning_amber_with_a_sign(
    world: World, local_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    page.goto(local_server.url + "/sign-in")
    warning = page.locator(".notice").first
    expect(warning).to_contain_text("Local sign-in.")
    warned = _looks(warning)

    page.get_by_role("button", name="Sign in as Standard User").click()
    page.goto(local_server.url + "/my-requests?asked=true")
    success = page.get_by_role("status").filter(has_text="Your request was sent")
    succeeded = _looks(success)

    assert warned["sign"].startswith('"!') and succeeded["sign"].startswith('"✓')  # not colour alone
    assert succeeded["background"] != warned["background"]
    assert succeeded["background"] == "rgb(231, 245, 236)"  # green
    assert warned["background"] == "rgb(255, 247, 224)"  # amber
    screenshot(page, "notice-success")


def _looks(notice: Locator) -> dict[str, str]:
    return notice.evaluate(
        """n => ({background: getComputedStyle(n).backgroundColor,
                  sign: getComputedStyle(n, '::before').content})"""
    )


@pytest.mark.parametrize("who", [World.acme("org_admin"), World.platform()], ids=["org admin", "super admin"])
def test_an_admin_without_a_department_is_told_why_there_is_no_generate_form(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page], who: EntraUser
) -> None:
    admin = sign_in(who, "/generate")
    expect(admin.get_by_role("heading", name="You cannot generate images from this account")).to_be_visible()
    expect(admin.get_by_label("Prompt")).to_have_count(0)
    expect(admin.get_by_role("link", name="Budgets").last).to_be_visible()  # somewhere to go instead
    expect(admin.locator("nav[aria-label=Main] a[href='/generate']")).to_have_count(0)
    screenshot(admin, "generate-unavailable")


def test_an_org_admin_in_a_department_generates_and_the_header_still_fits_one_row(
    world: World, live_server: LiveServer, web_database: str, sign_in: Callable[..., Page]
) -> None:
    _put_in_department(web_database, "org_admin@acme.com.au", world.acme_id, "MKTG")
    admin = sign_in(World.acme("org_admin"))
    nav = admin.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Generate")).to_be_visible()
    expect(nav.get_by_role("link", name="My requests")).to_be_visible()
    entries = nav.locator("a:visible, summary").evaluate_all(
        "items => items.map(e => Math.round(e.getBoundingClientRect().top))"
    )
    assert max(entries) - min(entries) <= 2, entries  # one row at 1280 px
    header = admin.locator("header.top").bounding_box()
    assert header is not None and header["height"] < 64
    admin.goto(live_server.url + "/generate")
    expect(admin.get_by_label("Prompt", exact=True)).to_be_visible()
    screenshot(admin, "nav-org-admin-with-department")

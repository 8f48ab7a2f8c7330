"""The header's navigation as a person uses it: a link that sits in a closed menu (the Admin menu, or
the whole navigation behind Menu on a phone) is reached by opening that menu first."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


def nav_link(page: Page, name: str) -> Locator:
    """The main navigation's link ``name``, every closed menu around it opened (outermost first)."""
    nav = page.get_by_role("navigation", name="Main", include_hidden=True)
    link = nav.get_by_role("link", name=name, exact=True, include_hidden=True)
    closed = page.locator("header details:not([open])", has=link)
    for index in range(closed.count()):
        menu = closed.nth(index)
        summary = menu.locator(":scope > summary")
        if summary.is_visible() and menu.get_attribute("open") is None:
            summary.click()
    return link

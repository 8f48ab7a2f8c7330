"""The header's navigation as a person uses it: a link that sits in a closed menu (the Admin menu, or
the whole navigation behind Menu on a phone) is reached by opening that menu first."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


def nav_link(page: Page, name: str) -> Locator:
    """The main navigation's link ``name``, every closed menu around it opened (outermost first)."""
    nav = page.get_by_role("navigation", name="Main", include_hidden=True)
    link = nav.get_by_role("link", name=name, exact=True, include_hidden=True)
    menus = link.locator("xpath=ancestor::details")  # in document order: the outermost first
    for index in range(menus.count()):
        menu = menus.nth(index)
        summary = menu.locator("xpath=./summary")
        if summary.is_visible() and menu.get_attribute("open") is None:
            summary.click()
    return link

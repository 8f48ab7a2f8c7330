"""Every role's doors: each signs in, lands on its own page and follows every link of the navigation and
of each page it reaches (same-origin GETs, bounded) without meeting a 404, a 403 or a link that only
bounces it elsewhere; every page passes axe at 1280 and 390 px, and the header stays one row wide."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from donatello.core.clock import utcnow
from tests.support.browser import axe_violations, screenshot
from tests.support.idp import EntraUser
from tests.support.live_server import LiveServer
from tests.web.world import World

WIDTHS = ((1280, 900), (390, 844))
#: pages a crawl opens in the browser (one per address shape); every link found is still requested
MOST_PAGES = 40
MOST_LINKS = 200
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: addresses that do something or leave the app, not pages to crawl
NOT_PAGES = ("/sign-out", "/sign-in", "/static/")


@dataclass(frozen=True)
class Role:
    name: str
    who: EntraUser
    lands_on: str  # a pattern of the path the home page (``/``) leads to
    home: str  # where an error page's one button leads
    refused: str | None  # a page the role cannot use: its 403 page must offer only usable pages


ROLES = [
    Role("staff", World.acme("standard_user"), r"/", "/generate", "/reports"),
    Role("manager", World.acme("dept_manager"), rf"/reports/{UUID.pattern}", "/reports", "/exports"),
    Role("finance", World.acme("finance"), r"/reports", "/reports", "/budget-requests"),
    Role("org admin", World.acme("org_admin"), r"/reports", "/reports", None),  # uses every page
    Role("super admin", World.platform(), r"/reports", "/reports", None),
]
GENERATORS = ("staff", "manager")


@dataclass
class Crawl:
    origin: str
    seen_links: set[str] = field(default_factory=set)
    opened_shapes: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def shape(self, address: str) -> str:
        """/reports/<id>?period=... and /reports/<id>?period=... are one shape: one is opened."""
        parts = urlsplit(address)
        keys = sorted(pair.split("=")[0] for pair in parts.query.split("&") if pair)
        return UUID.sub("<id>", parts.path) + ("?" + "&".join(keys) if keys else "")


def _links(page: Page, origin: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    here = page.url.split("#")[0]
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin or parts.path.startswith(NOT_PAGES):
            continue
        if parts.fragment and href.split("#")[0] == here:
            continue  # a place on this page (Skip to content)
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _header_is_one_row(page: Page) -> None:
    header = page.locator("header.top")
    box = header.bounding_box()
    assert box is not None
    brand = page.locator("header.top .brand").bounding_box()
    assert brand is not None
    # one row: as tall as its tallest item and its padding, and every visible item on the same line
    assert box["height"] <= brand["height"] + 32, f"header {box['height']} px tall on {page.url}"
    tops = header.locator("nav a:visible, .dropdown > summary, .who, .bell, .brand").evaluate_all(
        "items => items.map(e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; })"
    )
    assert max(tops) - min(tops) <= 6, f"header items on more than one line on {page.url}: {tops}"


def _check_page(page: Page, crawl: Crawl, path: str) -> None:
    """axe at both widths; at 1280 px the header is one row and the navigation marks this page."""
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        violations = axe_violations(page)
        if violations:
            crawl.problems.append(f"{path} at {width} px: {violations}")
        if page.evaluate("() => document.documentElement.scrollWidth") > width:
            crawl.problems.append(f"{path} scrolls sideways at {width} px")
    page.set_viewport_size({"width": 1280, "height": 900})
    _header_is_one_row(page)
    nav = page.get_by_role("navigation", name="Main")
    marked = nav.locator("a[aria-current=page]").evaluate_all("links => links.map(a => a.pathname)")
    listed = nav.locator("a").evaluate_all("links => links.map(a => a.pathname)")
    here = path.split("?")[0]
    under = [href for href in listed if here == href or here.startswith(href + "/")]
    if under and marked != under:
        crawl.problems.append(f"{path}: the navigation marks {marked} as the current page, not {under}")


def _generate(page: Page, origin: str) -> None:
    page.goto(origin + "/generate")
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    page.get_by_label("Model").select_option("local/pillow-sketch")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("img", name=re.compile(r"^Generated image 1"))).to_be_visible(timeout=30_000)


def crawl_as(page: Page, origin: str, label: str) -> Crawl:
    crawl = Crawl(origin)
    queue = [urlsplit(page.url).path]
    crawl.opened_shapes.add(crawl.shape(queue[0]))
    while queue:
        path = queue.pop(0)
        response = page.goto(origin + path)
        assert response is not None
        if response.status != 200:
            crawl.problems.append(f"{path} opened with {response.status}")
            continue
        if page.locator("header.top").count() == 0:
            continue  # not one of our pages (the API reference)
        _check_page(page, crawl, path)
        for link in _links(page, origin):
            if link in crawl.seen_links or len(crawl.seen_links) >= MOST_LINKS:
                continue
            crawl.seen_links.add(link)
            answer = page.request.get(origin + link, max_redirects=0)
            if answer.status in (301, 302, 303, 307):
                target = urlsplit(answer.headers["location"]).path
                if link not in ("/", "/reports") or target.startswith(("/sign-in", "/generate")):
                    crawl.problems.append(f"{path} links to {link}, which only sends {label} to {target}")
                continue
            if answer.status != 200:
                crawl.problems.append(f"{path} links to {link}: {answer.status}")
                continue
            shape = crawl.shape(link)
            html = answer.headers.get("content-type", "").startswith("text/html")
            if html and shape not in crawl.opened_shapes and len(crawl.opened_shapes) < MOST_PAGES:
                crawl.opened_shapes.add(shape)
                queue.append(link)
    return crawl


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_each_role_lands_on_its_own_page_and_meets_no_wrong_door(
    world: World,
    live_server: LiveServer,
    sign_in: Callable[..., Page],
    page_errors: list[str],
    role: Role,
) -> None:
    page = sign_in(role.who, "/")
    assert re.fullmatch(role.lands_on, urlsplit(page.url).path), page.url
    screenshot(page, f"crawl-{role.name.replace(' ', '-')}-home")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"crawl-{role.name.replace(' ', '-')}-home")
    page.set_viewport_size({"width": 1280, "height": 900})

    if role.name in GENERATORS:  # one image of theirs, so its page, the gallery's tile and spend are walked
        _generate(page, live_server.url)
        page.goto(live_server.url + "/")
    crawl = crawl_as(page, live_server.url, role.name)

    assert crawl.problems == [], "\n".join(crawl.problems)
    assert len(crawl.opened_shapes) >= 4, crawl.opened_shapes  # it did walk the app
    if role.name in GENERATORS:
        assert "/gallery/<id>" in crawl.opened_shapes, crawl.opened_shapes
    generates = role.name in GENERATORS
    assert any(link.startswith("/generate") for link in crawl.seen_links) == generates
    assert page_errors == []


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_a_missing_or_refused_page_keeps_the_navigation_and_offers_the_right_home(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page], role: Role
) -> None:
    page = sign_in(role.who, "/")
    refusals = [("/no/such/page", 404)] + ([(role.refused, 403)] if role.refused else [])
    for address, status in refusals:
        response = page.goto(live_server.url + address)
        assert response is not None and response.status == status, address
        expect(page.get_by_role("navigation", name="Main")).to_have_count(1)
        expect(page.locator("main a.button")).to_have_attribute("href", role.home)
        for link in set(_links(page, live_server.url)):
            answer = page.request.get(live_server.url + link)
            assert answer.status == 200, f"the {status} page of {role.name} links to {link}: {answer.status}"
            assert role.name in GENERATORS or not link.startswith("/generate"), link


def test_signed_out_the_unknown_page_offers_the_way_in(
    world: World, live_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    response = page.goto(live_server.url + "/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    expect(page.get_by_role("link", name="Open DonatelloAI")).to_have_attribute("href", "/")


def _previous_month(timezone: str) -> date:
    today = utcnow().astimezone(ZoneInfo(timezone)).date().replace(day=1)
    return (
        today.replace(year=today.year - 1, month=12)
        if today.month == 1
        else today.replace(month=today.month - 1)
    )


def test_a_manager_asking_for_last_month_sees_last_month(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page]
) -> None:
    last = _previous_month(live_server.settings.default_timezone)
    manager = sign_in(World.acme("dept_manager"), f"/reports?period={last:%Y-%m}")
    assert manager.url.endswith(f"?period={last:%Y-%m}")
    expect(manager.locator("#burn")).to_have_text(f"Burn-down, {last:%B %Y}")

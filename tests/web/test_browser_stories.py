"""What a person does in a real browser (headless Chromium) against a live server: sign in through the
Entra dance, generate, find the image, sign out; and what an attacker's browser cannot do."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import axe_violations, screenshot
from tests.support.idp import IdentityProvider
from tests.support.live_server import LiveServer
from tests.support.navigation import nav_link
from tests.web.world import World, user_ids

IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"


def _generate(page: Page, prompt: str) -> str:
    """Fill the Generate form with the local model, send it, wait for the image; returns its page."""
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Model").select_option("local/pillow-sketch")
    expect(page.get_by_test_id("quote-total")).to_have_text("A$0.01")
    page.get_by_role("button", name="Generate").click()
    image = page.get_by_role("img", name=re.compile(r"^Generated image 1"))
    expect(image).to_be_visible(timeout=30_000)
    page.wait_for_function(IMAGE_LOADED, arg=image.element_handle())
    return str(page.get_by_role("link", name="local/pillow-sketch").get_attribute("href"))


def _check(page: Page, name: str) -> None:
    assert axe_violations(page) == [], name
    screenshot(page, name)


def test_the_entra_dance_lands_on_the_page_first_asked_for_with_a_safe_cookie(
    world: World, live_server: LiveServer, idp: IdentityProvider, new_context: Callable[..., BrowserContext]
) -> None:
    context = new_context()
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(f"{request.method} {request.url}"))
    idp.sign_in_as(World.acme("power_user"))

    page.goto(f"{live_server.url}/gallery?status=completed")

    expect(page).to_have_url(f"{live_server.url}/gallery?status=completed")
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    assert any(line.startswith(f"GET {idp.url}/") and "/oauth2/v2.0/authorize" in line for line in seen)
    assert f"POST {live_server.url}/sign-in/callback" in seen
    [cookie] = [c for c in context.cookies() if c["name"] == "donatello_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # http://127.0.0.1: Secure comes with an https public URL
    assert cookie["value"].startswith("dnw_")
    assert "donatello_web_sign_in" not in {c["name"] for c in context.cookies()}  # the flow is spent


def test_sign_in_generate_find_it_in_the_gallery_then_sign_out(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    page = sign_in(World.acme("power_user"))
    expect(page.get_by_role("heading", name="Generate images")).to_be_visible()
    expect(page.get_by_text("Marketing has")).to_be_visible()
    _check(page, "generate")

    detail = _generate(page, "a sunrise over Sydney harbour")
    expect(page.get_by_text("Done — A$0.01 charged")).to_be_visible()
    _check(page, "generate-done")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Gallery").click()
    thumbnail = page.get_by_role("img", name=re.compile("^Thumbnail of the generation"))
    expect(thumbnail).to_have_count(1)
    page.wait_for_function(IMAGE_LOADED, arg=thumbnail.element_handle())
    _check(page, "gallery")

    thumbnail.click()
    expect(page).to_have_url(live_server.url + detail)
    expect(page.get_by_text("a sunrise over Sydney harbour", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Download image 1 (PNG)")).to_be_visible()
    _check(page, "generation")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My usage").click()
    expect(page.get_by_test_id("month-spend")).to_have_text("A$0.01")
    _check(page, "usage")

    headers = page.request.get(live_server.url + "/usage").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in headers  # plain http: HSTS only over https

    [before] = [c for c in page.context.cookies() if c["name"] == "donatello_session"]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    _check(page, "signed-out")
    assert "donatello_session" not in {c["name"] for c in page.context.cookies()}
    # a copy of the cookie taken before signing out is worth nothing
    page.context.add_cookies(
        [
            {
                "name": before["name"],
                "value": before["value"],
                "domain": before["domain"],
                "path": before["path"],
                "expires": before["expires"],
                "httpOnly": before["httpOnly"],
                "secure": before["secure"],
                "sameSite": before["sameSite"],
            }
        ]
    )
    for protected in ("/", "/gallery", detail, "/usage"):
        response = page.request.get(live_server.url + protected, max_redirects=0)
        assert response.status == 303, protected
        assert response.headers["location"].startswith("/sign-in?next="), protected
    assert page_errors == []  # no script error, no Content-Security-Policy violation on any page


def test_every_page_reads_at_phone_width(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    page = sign_in(World.acme("power_user"), width=390)
    _check(page, "generate")
    _generate(page, "a lighthouse at dusk")
    page.get_by_role("link", name="local/pillow-sketch").click()
    _check(page, "generation")
    for name, link, path in (("gallery", "Gallery", "/gallery"), ("usage", "My usage", "/usage")):
        nav_link(page, link).click()
        expect(page).to_have_url(re.compile(path + "$"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name  # no sideways scrolling
        _check(page, name)
    assert page_errors == []


def test_a_cross_site_form_post_is_refused(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page]
) -> None:
    page = sign_in(World.acme("power_user"))
    attacker = (
        f'<html lang="en"><body><form method="post" action="{live_server.url}/generate">'
        '<input name="prompt" value="spend their budget"><input name="n" value="4">'
        '<button type="submit">Win a prize</button></form></body></html>'
    )
    page.context.route(
        "http://attacker.test/**", lambda route: route.fulfill(body=attacker, content_type="text/html")
    )
    page.goto("http://attacker.test/")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Win a prize").click()

    response = navigation.value
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("sent from another site")).to_be_visible()
    screenshot(page, "cross-site-refused")
    page.goto(live_server.url + "/gallery")
    expect(page.get_by_text("No generations")).to_be_visible()


def test_a_session_revoked_through_the_api_loses_access(
    world: World, live_server: LiveServer, web_database: str, sign_in: Callable[..., Page]
) -> None:
    page = sign_in(World.acme("standard_user"), "/usage")
    expect(page.get_by_role("heading", name="My usage")).to_be_visible()
    session_cookie = next(c for c in page.context.cookies() if c["name"] == "donatello_session")
    signer = token_signer(live_server.settings)
    user_id, org_id = user_ids(web_database, "standard_user@acme.com.au")
    bearer = {"Authorization": f"Bearer {signer.issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False) as api:
        sessions = api.get("/v1/auth/sessions").json()["items"]
        assert any((s["device_info"] or {}).get("kind") == "browser" for s in sessions)
        assert api.post("/v1/auth/sessions/revoke-all").json()["revoked"] >= 1

    response = page.request.get(live_server.url + "/usage", max_redirects=0)
    assert response.status == 303
    assert response.headers["location"] == "/sign-in?next=/usage"
    assert session_cookie["value"]  # the browser still holds the cookie; the server no longer honours it


def test_another_tenants_image_page_is_not_found(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page]
) -> None:
    globex = sign_in(World.globex())
    their_image = _generate(globex, "the Globex logo")

    acme = sign_in(World.acme("org_admin"))
    response = acme.goto(live_server.url + their_image)
    assert response is not None and response.status == 404
    expect(acme.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(acme.get_by_text("the Globex logo")).to_have_count(0)
    _check(acme, "not-found")
    no_such_page = acme.goto(live_server.url + "/no/such/page")
    assert no_such_page is not None and no_such_page.status == 404


def test_an_off_site_return_url_is_refused(
    world: World, live_server: LiveServer, idp: IdentityProvider, new_context: Callable[..., BrowserContext]
) -> None:
    for hostile in ("https://attacker.test/steal", "//attacker.test/steal", "/\\attacker.test"):
        idp.sign_in_as(World.acme("power_user"))
        page = new_context().new_page()
        page.goto(f"{live_server.url}/sign-in?next={hostile}")
        expect(page).to_have_url(f"{live_server.url}/")
        expect(page.get_by_role("heading", name="Generate images")).to_be_visible()


def test_the_embedded_default_opens_on_local_sign_in_and_works_from_the_keyboard(
    world: World, local_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    page.goto(local_server.url + "/")
    expect(page).to_have_url(local_server.url + "/sign-in?next=/")
    expect(page.get_by_text("Local sign-in.")).to_be_visible()
    _check(page, "sign-in-local")

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_role("button", name="Sign in as Power User").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Generate images")).to_be_visible()

    page.get_by_label("Prompt", exact=True).focus()
    page.keyboard.type("a ferry crossing the harbour")
    for _ in range(20):  # Tab through the form to its button, as someone without a mouse does
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Generate":
            break
    page.keyboard.press("Enter")
    image = page.get_by_role("img", name=re.compile(r"^Generated image 1"))
    expect(image).to_be_visible(timeout=30_000)
    page.wait_for_function(IMAGE_LOADED, arg=image.element_handle())

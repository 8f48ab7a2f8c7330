"""``/docs`` in a real browser under its own Content-Security-Policy: Swagger UI renders the API's
operations (and opens one), with no CSP violation and no console error; the page and every asset carry
the policy, which allows no inline script."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.support.browser import screenshot
from tests.support.live_server import LiveServer

WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_swagger_ui_renders_the_operations_under_its_csp(
    live_server: LiveServer, new_context: Callable[..., BrowserContext], page_errors: list[str]
) -> None:
    page = new_context().new_page()
    page.add_init_script(WATCH_VIOLATIONS)  # runs before the page's own scripts, outside its CSP
    response = page.goto(f"{live_server.url}/docs")
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy

    expect(page.get_by_role("heading", name=re.compile("^DonatelloAI"))).to_be_visible(timeout=15_000)
    operation = page.locator(".opblock-summary", has_text="/v1/generations").first
    expect(operation).to_be_visible()
    assert page.locator(".opblock").count() > 50  # the whole API, not a blank page
    operation.click()  # expanding an operation renders its parameters and responses
    expect(page.get_by_text("Responses").first).to_be_visible()
    page.wait_for_timeout(300)

    assert page.evaluate("() => window.__cspViolations") == []
    assert page_errors == []
    screenshot(page, "api-docs")


def test_every_docs_asset_carries_the_policy(live_server: LiveServer) -> None:
    for path in (
        "/docs",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/init.js",
    ):
        response = httpx.get(live_server.url + path)
        assert response.status_code == 200
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]

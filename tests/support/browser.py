"""The headless Chromium the browser tests drive (Debian's where installed, else the binary inside the
npm package ``@sparticuz/chromium``, pinned in package-lock.json, unpacked to /tmp by its own code), and
what a story checks on every page: axe-core, the width, a screenshot to look at."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Response

from tests.support import workers

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "build" / "screenshots"
# One process, no sandbox (root in a container), no GPU; nothing fetched in the background.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--single-process",
    "--no-zygote",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
    "--disable-dev-shm-usage",
]
_UNPACK = "require('@sparticuz/chromium').default.executablePath().then((p) => console.log(p))"


@functools.cache
def chromium_executable() -> str:
    """A Chromium binary; never skips: without one the browser tests fail and say why. The unpacking is
    done under a lock: a second process would otherwise find the half-written /tmp/chromium and run it."""
    if configured := os.environ.get("DONATELLO_CHROMIUM"):
        return configured
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(candidate, os.X_OK):
            return candidate
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@sparticuz" / "chromium").exists():
        raise RuntimeError("no Chromium: install Debian's chromium or run `npm ci` (make test does)")
    with workers.machine_lock("chromium"):
        result = subprocess.run(
            [node, "-e", _UNPACK], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
        )
    path = result.stdout.strip().splitlines()[-1]
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"@sparticuz/chromium unpacked no executable ({path!r}): {result.stderr[-500:]}")
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page. Evaluated through the DevTools
    protocol, so the page's CSP (no inline script) does not block it and need not be loosened."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    results = page.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(page: Page, name: str) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


def looks_right(page: Page, name: str) -> None:
    """At 1280 and 390 px: no serious or critical axe violations, nothing wider than the screen (tables
    included: none scrolls sideways inside its panel), and a screenshot to look at."""
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert axe_violations(page) == [], f"{name} at {width} px"
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, f"{name} at {width} px"
        sideways = page.locator(".scroll").evaluate_all(
            "rs => rs.filter(r => r.scrollWidth > r.clientWidth).map(r => r.getAttribute('aria-labelledby'))"
        )
        assert sideways == [], f"tables of {name} scroll sideways at {width} px: {sideways}"
        screenshot(page, name)
    page.set_viewport_size({"width": 1280, "height": 900})


def status_of(response: Response | None) -> int:
    """The HTTP status a navigation ended with (Playwright gives None only for same-document moves)."""
    assert response is not None, "the navigation made no request"
    return response.status

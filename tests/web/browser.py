"""The headless Chromium the browser tests drive: Debian's where installed, else the binary inside the
npm package ``@sparticuz/chromium`` (pinned in package-lock.json), unpacked to /tmp by its own code."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

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

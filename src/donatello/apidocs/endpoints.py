"""``/docs``: Swagger UI from the ``swagger-ui-bundle-v2`` wheel (Swagger UI 5, Apache-2.0), never a CDN.

FastAPI's own ``/docs`` loads its scripts from jsDelivr, a blank page without internet; this one serves
every asset itself and starts Swagger UI from a script file (no inline script), under a
Content-Security-Policy of its own (``DOCS_CSP``) on the page and on every asset.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

router = APIRouter(include_in_schema=False)

OURS = Path(__file__).parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": Path(str(swagger_ui_path)) / "swagger-ui-bundle.js",
    "swagger-ui.css": Path(str(swagger_ui_path)) / "swagger-ui.css",
    "favicon-32x32.png": Path(str(swagger_ui_path)) / "favicon-32x32.png",
    "init.js": OURS / "init.js",
}

#: What Swagger UI needs and nothing more: its own scripts, styles, images (and the data: URIs of its icons)
#: and same-origin requests (the OpenAPI document, "Try it out"). No inline script, no eval, no frames.
DOCS_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {"Content-Security-Policy": DOCS_CSP, "Cross-Origin-Opener-Policy": "same-origin"}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>DonatelloAI API</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(PAGE, headers=HEADERS)


@router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(status_code=404)
    # Versioned by the pinned wheel: a day's caching is safe and keeps /docs quick.
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400", **HEADERS})

"""``/docs``: Swagger UI from the ``swagger-ui-bundle-v2`` wheel (Swagger UI 5, Apache-2.0), never a CDN.

FastAPI's own ``/docs`` loads its scripts from jsDelivr, a blank page without internet; this one serves
every asset itself and starts Swagger UI from a script file (no inline script).
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
    return HTMLResponse(PAGE)


@router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(status_code=404)
    # Versioned by the pinned wheel: a day's caching is safe and keeps /docs quick.
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

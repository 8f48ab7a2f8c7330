"""``GET /v1/files/{token}``: the local store's stand-in for a Blob SAS URL.

No bearer token: the signed token is the capability, exactly as a SAS URL is. A tampered, expired or
unknown token is a plain 404 problem, indistinguishable from a deleted image.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from donatello.core.clock import utcnow
from donatello.dependencies import DbSession
from donatello.openapi import problem_responses
from donatello.storage.dependencies import LocalFiles
from donatello.storage.errors import StoredImageMissing
from donatello.storage.names import download_disposition
from donatello.storage.withdrawal import withdrawn

router = APIRouter(prefix="/files", tags=["files"])


@router.get(
    "/{token}",
    response_class=Response,
    responses={
        200: {"description": "The image", "content": {"image/png": {}, "image/jpeg": {}}},
        **problem_responses(StoredImageMissing),
    },
)
async def read_file(token: str, store: LocalFiles, session: DbSession) -> Response:
    """Serve the image a valid, unexpired signed link names, with its stored content type — unless its
    generation was deleted since the link was made."""
    image = await store.open_signed(token)
    if await withdrawn(session, image.name):
        raise StoredImageMissing(image.name)
    max_age = max(0, math.floor((image.expires_at - utcnow()).total_seconds()))
    headers = {
        # Private: the link is personal; the browser may reuse it only while the link itself is valid.
        "Cache-Control": f"private, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if not image.content_type.startswith("image/"):
        headers["Content-Disposition"] = download_disposition(image.path.name) or "attachment"
    return FileResponse(image.path, media_type=image.content_type, headers=headers)

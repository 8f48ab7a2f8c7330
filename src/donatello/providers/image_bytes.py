"""Images as the product stores them: PNG bytes, from whatever a provider answered."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image

from donatello.providers.errors import ProviderUnavailable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def as_png(data: bytes) -> bytes:
    """PNG as it is; a JPEG or WebP answer converted (Pillow raises OSError for anything else)."""
    if data.startswith(PNG_MAGIC):
        return data
    with Image.open(io.BytesIO(data)) as image:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()


def png_from_base64(encoded: object) -> bytes:
    """One base64 image of an answer, as PNG; a retryable outage when it is not a readable image."""
    if not isinstance(encoded, str) or not encoded:
        raise ProviderUnavailable("an image in the answer is not base64 text")
    try:
        return as_png(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, OSError) as exc:  # OSError: Pillow cannot read it
        raise ProviderUnavailable("the provider returned malformed base64 image data") from exc

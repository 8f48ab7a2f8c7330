"""Thumbnails: small JPEGs made with Pillow, aspect ratio kept."""

from __future__ import annotations

import io

from PIL import Image

JPEG_QUALITY = 85


def make_thumbnail(png: bytes, *, max_side: int = 256) -> bytes:
    """A JPEG whose longer side is at most ``max_side`` pixels, same aspect ratio as the source.

    Transparency is flattened onto white (JPEG has no alpha); an image already small enough is not
    enlarged. Pillow's decompression-bomb guard stays on.
    """
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    with Image.open(io.BytesIO(png)) as source:
        source.load()
        image = source.convert("RGBA") if source.mode not in ("RGB", "L") else source.copy()
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()

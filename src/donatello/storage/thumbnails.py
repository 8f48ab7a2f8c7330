"""Thumbnails: small JPEGs made with Pillow, aspect ratio kept.

Made from the image's file when there is one: Pillow reads it in pieces, so the only whole copy in memory
is the decoded picture itself, for as long as it takes to scale it down.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

JPEG_QUALITY = 85
#: modes Pillow scales smoothly; a palette image is converted first (scaling it would pick, not blend)
_SCALED_AS_THEY_ARE = frozenset({"RGB", "RGBA", "L", "LA"})


def make_thumbnail(png: bytes | Path, *, max_side: int = 256) -> bytes:
    """A JPEG whose longer side is at most ``max_side`` pixels, same aspect ratio as the source.

    Transparency is flattened onto white (JPEG has no alpha); an image already small enough is not
    enlarged. Pillow's decompression-bomb guard stays on.
    """
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    with Image.open(png if isinstance(png, Path) else io.BytesIO(png)) as source:
        if source.mode in _SCALED_AS_THEY_ARE:  # scaled first, so the full-size picture is decoded once
            source.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        image = source.convert("RGBA") if source.mode not in ("RGB", "L") else source.copy()
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()

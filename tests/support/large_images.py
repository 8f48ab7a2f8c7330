"""Images the size real models return: a 1024x1024 PNG of noise is about 3 MiB (noise does not compress)."""

from __future__ import annotations

import functools
import io
import random

from PIL import Image


@functools.cache
def noise_png(side: int = 1024) -> bytes:
    """The same picture every time (a seeded generator), made once per test process."""
    pixels = random.Random(side).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()

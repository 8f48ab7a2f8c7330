"""The ``local`` provider: renders a real PNG with Pillow, no network, no cost beyond its list price.

The picture is a pure function of (prompt, seed, size, image index): colours come from a hash of the
prompt, the composition from a hash of everything, and the prompt itself is written across the bottom,
so two requests that should match do, byte for byte, and different prompts look visibly different.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import textwrap
import time

from PIL import Image, ImageDraw, ImageFont

from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import ProviderRejected, ProviderTimeout
from donatello.providers.families import LOCAL
from donatello.providers.image_bytes import arrived

#: every size the local family lists; ``auto`` is rendered square, as gpt-image usually chooses
LOCAL_SIZES = LOCAL.sizes
AUTO_SIZE = "1024x1024"

Colour = tuple[int, int, int]


class LocalProvider:
    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        if request.size not in LOCAL_SIZES:
            raise ProviderRejected(f"size {request.size} is not one of {', '.join(LOCAL_SIZES)}")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(target.timeout_seconds):
                images = await asyncio.to_thread(render_all, request)  # a few at most, small: in memory
        except TimeoutError as exc:
            raise ProviderTimeout(f"rendering took longer than {target.timeout_seconds}s") from exc
        return ImageResult(
            images=[arrived(png) for png in images],
            revised_prompt=None,
            safety=None,
            is_nsfw=False,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )


def render_all(request: ImageRequest) -> list[bytes]:
    return [render(request.prompt, request.seed, request.size, index) for index in range(request.n)]


def render(prompt: str, seed: int | None, size: str, index: int = 0) -> bytes:
    """One PNG for (prompt, seed, size, index); the same arguments give the same bytes."""
    size = AUTO_SIZE if size == "auto" else size
    width, height = (int(part) for part in size.split("x"))
    palette = _palette(prompt)
    digest = hashlib.sha256(f"{prompt}\x00{seed}\x00{size}\x00{index}".encode()).digest()
    rng = random.Random(int.from_bytes(digest, "big"))  # noqa: S311 - art, not security

    image = Image.new("RGB", (width, height), palette[0])
    draw = ImageDraw.Draw(image, "RGBA")
    top, bottom = palette[0], palette[1]
    for y in range(height):  # vertical gradient between the prompt's first two colours
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    unit = min(width, height)
    for _ in range(rng.randint(6, 12)):
        colour = (*palette[rng.randrange(2, len(palette))], rng.randint(120, 220))
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randint(unit // 16, unit // 4)
        shape = rng.choice(("ellipse", "rectangle", "triangle"))
        if shape == "ellipse":
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        elif shape == "rectangle":
            draw.rectangle([x - r, y - r // 2, x + r, y + r // 2], fill=colour)
        else:
            draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=colour)
    _caption(draw, prompt, width, height)

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _palette(prompt: str) -> list[Colour]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return [(digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 18, 3)]


def _caption(draw: ImageDraw.ImageDraw, prompt: str, width: int, height: int) -> None:
    font_size = max(10, min(width, height) // 24)
    font = ImageFont.load_default(size=font_size)
    lines = textwrap.wrap(prompt, width=max(10, int(width / (font_size * 0.6))))[:3]
    if not lines:
        return
    line_height = int(font_size * 1.3)
    band_top = height - line_height * len(lines) - font_size
    draw.rectangle([0, band_top, width, height], fill=(0, 0, 0, 150))
    for number, line in enumerate(lines):
        draw.text(
            (font_size // 2, band_top + font_size // 2 + number * line_height), line, font=font, fill="white"
        )

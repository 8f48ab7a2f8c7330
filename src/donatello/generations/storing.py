"""Storing a generation's images: retried in place, since the provider call that made them is paid for.

Each image and its thumbnail is written under its fixed name (``storage.blob_names``), so writing again
after a failure replaces rather than duplicates. A store still failing after ``STORE_ATTEMPTS`` raises
``ImagesNotStored``; the worker then re-queues the job and a later attempt stores the kept answer
(``generations.kept``) without calling the provider again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from donatello.storage import ImageStore, blob_names, make_thumbnail

log = logging.getLogger(__name__)

STORE_ATTEMPTS = 3
FIRST_DELAY_SECONDS = 0.5

Sleep = Callable[[float], Awaitable[None]]


class ImagesNotStored(Exception):
    """The image store kept failing; the provider's answer is kept for a later attempt."""


async def store_images(
    store: ImageStore, generation_id: uuid.UUID, created_at: datetime, images: list[bytes], sleep: Sleep
) -> list[tuple[str, str]]:
    """(image, thumbnail) names of every image, stored; retried with back-off (0.5 s, 1 s, ...)."""
    names = []
    for index, png in enumerate(images):
        image, thumbnail = blob_names(generation_id, created_at, index)
        await _put(store, image, png, "image/png", sleep)
        # decoding and scaling a full-size image is CPU work: off the event loop, which keeps the other
        # jobs' calls going (Pillow lets go of the GIL while it works)
        await _put(store, thumbnail, await asyncio.to_thread(make_thumbnail, png), "image/jpeg", sleep)
        names.append((image, thumbnail))
    return names


async def _put(store: ImageStore, name: str, data: bytes, content_type: str, sleep: Sleep) -> None:
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            await store.put(name, data, content_type)
            return
        except Exception as error:
            if attempt == STORE_ATTEMPTS:
                raise ImagesNotStored(
                    f"the image store failed {attempt} times: {type(error).__name__}"
                ) from error
            log.warning("storing an image failed; retrying", extra={"attempt": attempt, "image": name})
            await sleep(FIRST_DELAY_SECONDS * 2 ** (attempt - 1))

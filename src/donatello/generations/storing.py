"""Storing a generation's images: retried in place, since the provider call that made them is paid for.

Each image and its thumbnail is written under its fixed name (``storage.blob_names``), so writing again
after a failure replaces rather than duplicates. A store still failing after ``STORE_ATTEMPTS`` raises
``ImagesNotStored``; the worker then re-queues the job and a later attempt stores the kept answer
(``generations.kept``) without calling the provider again.

The images are files (they arrived that way, ``providers.image_bytes``): each is streamed to the store
(``put_file``: a bounded piece in memory at a time) and its thumbnail is made from the file, so storing
never holds a second whole copy of an image in Python's memory.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from donatello.providers import ImageFile
from donatello.storage import ImageStore, blob_names, make_thumbnail

log = logging.getLogger(__name__)

STORE_ATTEMPTS = 3
FIRST_DELAY_SECONDS = 0.5

Sleep = Callable[[float], Awaitable[None]]


class ImagesNotStored(Exception):
    """The image store kept failing; the provider's answer is kept for a later attempt."""


async def store_images(
    store: ImageStore, generation_id: uuid.UUID, created_at: datetime, images: list[ImageFile], sleep: Sleep
) -> list[tuple[str, str]]:
    """(image, thumbnail) names of every image, stored; retried with back-off (0.5 s, 1 s, ...)."""
    names = []
    for index, image in enumerate(images):
        name, thumbnail_name = blob_names(generation_id, created_at, index)
        await _stored(partial(store.put_file, name, image.path, "image/png"), name, sleep)
        # decoding and scaling a full-size image is CPU work: off the event loop, which keeps the other
        # jobs' calls going (Pillow lets go of the GIL while it works)
        thumbnail = await asyncio.to_thread(make_thumbnail, image.path)
        await _stored(partial(store.put, thumbnail_name, thumbnail, "image/jpeg"), thumbnail_name, sleep)
        names.append((name, thumbnail_name))
    return names


async def _stored(put: Callable[[], Awaitable[None]], name: str, sleep: Sleep) -> None:
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            await put()
            return
        except Exception as error:
            if attempt == STORE_ATTEMPTS:
                raise ImagesNotStored(
                    f"the image store failed {attempt} times: {type(error).__name__}"
                ) from error
            log.warning("storing an image failed; retrying", extra={"attempt": attempt, "image": name})
            await sleep(FIRST_DELAY_SECONDS * 2 ** (attempt - 1))

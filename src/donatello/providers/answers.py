"""One call to a provider, its answer read as it arrives: images into files, the rest parsed as JSON.

``post`` sends the request and reads a 200 body through :mod:`answer_stream`, so the memory a call holds
is one network read and the answer's JSON text, whatever the images weigh. Any other status is read whole
(up to ``MAX_ERROR_BYTES``) and handed to the adapter's own reading of errors. ``deadline`` bounds the
whole exchange — connecting, waiting and every byte of the body — so a body that trickles in still ends
on time. A body cut off, late or not JSON leaves no image file behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from donatello.providers.answer_stream import AnswerReader, NotAnAnswer
from donatello.providers.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from donatello.providers.image_bytes import Arrival, ImageFile, ImageTooLarge, as_png

#: an error's body is a few hundred bytes of JSON or a gateway's page; more than this is not read
MAX_ERROR_BYTES = 1024 * 1024
#: headers that describe the body as sent, not as read (a re-built error response carries it decoded)
_AS_SENT = frozenset({"content-encoding", "content-length", "transfer-encoding"})

ErrorReading = Callable[[httpx.Response], ProviderError]


@dataclass
class Answer:
    """A 200 answer: its JSON (each image string replaced by a marker), headers, and the images."""

    payload: Any
    headers: httpx.Headers
    _reader: AnswerReader

    async def png(self, value: object) -> ImageFile | None:
        """The image a marker in ``payload`` stands for, as PNG (a JPEG or WebP is converted); None when
        ``value`` is no image (absent or empty). An image the answer spoiled is a retryable outage."""
        image = self._reader.images.get(value) if isinstance(value, str) and value else None
        if image is None:
            return None
        if isinstance(image, str):
            raise ProviderUnavailable(image)
        return await asyncio.to_thread(as_png, image)

    async def image(self, value: object, *, missing: str) -> ImageFile:
        """As :meth:`png`, where an image must be: ``missing`` is the outage's reason when it is not."""
        if (image := await self.png(value)) is None:
            raise ProviderUnavailable(missing)
        return image

    @contextlib.contextmanager
    def discarded_on_failure(self) -> Iterator[None]:
        """Whatever the adapter raises while reading the answer, its image files go with it."""
        try:
            yield
        except BaseException:
            self._reader.discard()
            raise


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    deadline: float,
    error_for: ErrorReading,
    image_keys: frozenset[str],
    headers: dict[str, str],
    json: dict[str, object] | None = None,
    content: bytes | None = None,
    params: dict[str, str] | None = None,
) -> Answer:
    """POST and read the answer (see the module's note); a non-200 raises ``error_for(response)``."""
    reader = AnswerReader(image_keys)
    try:
        async with asyncio.timeout(deadline):
            async with http.stream(
                "POST",
                url,
                params=params,
                json=json,
                content=content,
                headers=headers,
                timeout=httpx.Timeout(deadline),
            ) as response:
                if response.status_code != 200:
                    raise error_for(await _read_error(response))
                async for chunk in response.aiter_bytes():
                    reader.feed(chunk)
                payload = reader.finish()
                return Answer(payload, response.headers, reader)
    except BaseException as failure:
        reader.discard()
        translated = _as_provider_error(failure, deadline)
        if translated is failure:
            raise
        raise translated from failure


async def download(http: httpx.AsyncClient, url: str, *, deadline: float) -> ImageFile:
    """An image behind a pre-signed link (no credentials go with it), as PNG, streamed to a file."""
    arrival = Arrival()
    try:
        async with asyncio.timeout(deadline):
            async with http.stream("GET", url, timeout=httpx.Timeout(deadline)) as response:
                if response.status_code != 200:
                    raise ProviderUnavailable(
                        f"downloading the generated image gave HTTP {response.status_code}"
                    )
                async for chunk in response.aiter_bytes():
                    arrival.write(chunk)
    except BaseException as failure:
        arrival.discard()
        if isinstance(failure, (TimeoutError, httpx.TimeoutException)):
            raise ProviderTimeout("downloading the generated image timed out") from failure
        if isinstance(failure, httpx.TransportError):
            raise ProviderUnavailable("cannot download the generated image") from failure
        if isinstance(failure, ImageTooLarge):
            raise ProviderUnavailable("the generated image is too large") from failure
        raise
    return await asyncio.to_thread(as_png, arrival.finish())


def _as_provider_error(failure: BaseException, deadline: float) -> BaseException:
    if isinstance(failure, (TimeoutError, httpx.TimeoutException)):
        return ProviderTimeout(f"no answer within {deadline:g}s")
    if isinstance(failure, httpx.TransportError):  # refused, reset, or cut off part-way through the body
        return ProviderUnavailable(f"cannot reach the provider: {type(failure).__name__}")
    if isinstance(failure, NotAnAnswer):
        return ProviderUnavailable("the provider answered 200 with a body that is not JSON")
    return failure


async def _read_error(response: httpx.Response) -> httpx.Response:
    """The error response with its body read (at most ``MAX_ERROR_BYTES``), as the error readers expect."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= MAX_ERROR_BYTES:
            del body[MAX_ERROR_BYTES:]
            break
    kept = [(name, value) for name, value in response.headers.multi_items() if name.lower() not in _AS_SENT]
    return httpx.Response(response.status_code, headers=kept, content=bytes(body), request=response.request)

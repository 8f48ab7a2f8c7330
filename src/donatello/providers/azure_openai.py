"""The ``azure-openai`` provider: the Azure OpenAI images API (gpt-image family, DALL-E 3) over httpx.

What is sent — URL shape, ``api-version``, body per family — is :mod:`azure_body`; how a failure is read
is :mod:`azure_errors`. Here: one call per ``family.max_images_per_call`` images (gpt-image: up to 10 in
one call; DALL-E 3: one), credentials asked of ``target.credential`` before every call, images decoded
(and turned into PNG when the model was asked for JPEG), the response's ``usage`` kept as billed.

**Deadline.** ``timeout_seconds`` bounds the whole call — connecting, waiting and reading the body — not
each phase the way httpx's timeout does, so a body that trickles in byte by byte still ends at the
deadline. gpt-image takes longer than the catalogue's default of 60 s at ``high`` quality: a gpt-image
model whose row still has that default gets ``GPT_IMAGE_DEFAULT_TIMEOUT_SECONDS`` (180 s); any other
value on the row is used as set.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import time
from typing import Any

import httpx
from PIL import Image

from donatello.providers import azure_body, azure_errors, safety
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget, TokenUsage
from donatello.providers.errors import ProviderTimeout, ProviderUnavailable
from donatello.providers.families import GPT_IMAGE
from donatello.providers.residency import country_of_region

CATALOGUE_DEFAULT_TIMEOUT_SECONDS = 60.0
GPT_IMAGE_DEFAULT_TIMEOUT_SECONDS = 180.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def deadline_seconds(target: ProviderTarget) -> float:
    """The total time one call may take (see the module's note on the gpt-image default)."""
    if target.timeout_seconds == CATALOGUE_DEFAULT_TIMEOUT_SECONDS and azure_body.family(target) is GPT_IMAGE:
        return GPT_IMAGE_DEFAULT_TIMEOUT_SECONDS
    return target.timeout_seconds


class AzureOpenAIProvider:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        per_call = azure_body.family(target).max_images_per_call
        images: list[bytes] = []
        revised = region = None
        summaries: list[dict[str, object]] = []
        usages: list[dict[str, Any]] = []
        remaining, calls = request.n, 0
        while remaining > 0:  # sequential: a failure stops the rest, nothing runs on unobserved
            count = min(per_call, remaining)
            payload = await self._post(target, request, count)
            for item in payload["data"]:
                images.append(await self._image(target, item))
                revised = revised or _str(item.get("revised_prompt"))
                summaries.append(_item_safety(item))
            if isinstance(payload.get("usage"), dict):
                usages.append(payload["usage"])
            region = payload["region"] or region
            remaining, calls = remaining - count, calls + 1
        merged = safety.merge(summaries)
        return ImageResult(
            images=images,
            revised_prompt=revised,
            safety=merged,
            is_nsfw=bool(merged and merged.get("is_nsfw")),
            latency_ms=int((time.perf_counter() - started) * 1000),
            usage=token_usage(usages, calls),
            processed_in=country_of_region(region),  # Azure names the region that served: x-ms-region
        )

    async def _post(self, target: ProviderTarget, request: ImageRequest, count: int) -> dict[str, Any]:
        route = azure_body.route(target)
        sent = azure_body.body(target, request, count, route.model)
        headers = await target.credential.headers() if target.credential is not None else {}
        deadline = deadline_seconds(target)
        try:
            async with asyncio.timeout(deadline):  # the whole exchange, body included
                response = await self._http.post(
                    route.url,
                    params=route.params,
                    json=sent,
                    headers=headers,
                    timeout=httpx.Timeout(deadline),
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProviderTimeout(f"no answer within {deadline:g}s") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"cannot reach the provider: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise azure_errors.error_for(response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise ProviderUnavailable("the provider answered 200 with a body that is not JSON") from exc
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not data:
            raise ProviderUnavailable("the provider answered 200 without any image")
        if len(data) != count:
            raise ProviderUnavailable(f"asked for {count} images, the provider returned {len(data)}")
        items = [item if isinstance(item, dict) else {} for item in data]
        if (refusal := azure_errors.output_refusal(items)) is not None:
            raise refusal
        return {"data": items, "usage": payload.get("usage"), "region": response.headers.get("x-ms-region")}

    async def _image(self, target: ProviderTarget, item: dict[str, Any]) -> bytes:
        if encoded := item.get("b64_json"):
            try:
                return _as_png(base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError, OSError) as exc:  # OSError: Pillow cannot read it
                raise ProviderUnavailable("the provider returned malformed base64 image data") from exc
        if url := item.get("url"):
            deadline = deadline_seconds(target)
            try:  # a pre-signed blob URL (DALL-E 3 with response_format url): no credentials go with it
                async with asyncio.timeout(deadline):
                    response = await self._http.get(url, timeout=httpx.Timeout(deadline))
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise ProviderTimeout("downloading the generated image timed out") from exc
            except httpx.TransportError as exc:
                raise ProviderUnavailable("cannot download the generated image") from exc
            if response.status_code != 200:
                raise ProviderUnavailable(f"downloading the generated image gave HTTP {response.status_code}")
            return response.content
        raise ProviderUnavailable("an image in the answer has neither b64_json nor url")


def token_usage(blocks: list[dict[str, Any]], calls: int) -> TokenUsage | None:
    """What the calls were billed: input text and image tokens, output tokens; the raw block kept
    (``{"calls": [...]}`` when a request took several calls). None unless every call reported a
    readable bill — a partial or unreadable one must not be priced as if it were the whole."""
    if len(blocks) != calls or not all(isinstance(_count(b, "output_tokens"), int) for b in blocks):
        return None

    def text(block: dict[str, Any]) -> int:
        detailed = _count(block, "input_tokens_details", "text_tokens")
        return detailed if detailed is not None else _count(block, "input_tokens") or 0

    return TokenUsage(
        input_text_tokens=sum(text(b) for b in blocks),
        input_image_tokens=sum(_count(b, "input_tokens_details", "image_tokens") or 0 for b in blocks),
        output_image_tokens=sum(_count(b, "output_tokens") or 0 for b in blocks),
        raw=dict(blocks[0]) if len(blocks) == 1 else {"calls": [dict(b) for b in blocks]},
    )


def _count(block: dict[str, Any], *path: str) -> int | None:
    value: Any = block
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _as_png(data: bytes) -> bytes:
    """PNG as the product stores it; a JPEG or WebP answer (``output_format``) is converted."""
    if data.startswith(PNG_MAGIC):
        return data
    with Image.open(io.BytesIO(data)) as image:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()


def _item_safety(item: dict[str, Any]) -> dict[str, object]:
    prompt = item.get("prompt_filter_results")
    if isinstance(prompt, list):  # chat-style shape: [{"prompt_index": 0, "content_filter_results": {}}]
        prompt = prompt[0].get("content_filter_results") if prompt and isinstance(prompt[0], dict) else None
    return {
        **safety.results_of(prompt, "prompt"),
        **safety.results_of(item.get("content_filter_results"), "image"),
    }


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

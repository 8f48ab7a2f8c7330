"""The ``azure-openai`` provider: the Azure OpenAI images API (gpt-image family, DALL-E 3) over httpx.

What is sent — URL shape, ``api-version``, body per family — is :mod:`azure_body`; how a failure is read
is :mod:`azure_errors`. Here: one call per ``family.max_images_per_call`` images (gpt-image: up to 10 in
one call; DALL-E 3: one), credentials asked of ``target.credential`` before every call, images decoded
into files as the answer arrives (:mod:`answers`; turned into PNG when the model was asked for JPEG),
the response's ``usage`` kept as billed.

**Deadline.** ``timeout_seconds`` bounds the whole call — connecting, waiting and reading the body — not
each phase the way httpx's timeout does, so a body that trickles in byte by byte still ends at the
deadline. gpt-image takes longer than the catalogue's default of 60 s at ``high`` quality: a gpt-image
model whose row still has that default gets ``GPT_IMAGE_DEFAULT_TIMEOUT_SECONDS`` (180 s); any other
value on the row is used as set.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from donatello.providers import answers, azure_body, azure_errors, safety
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget, TokenUsage
from donatello.providers.errors import ProviderUnavailable
from donatello.providers.families import GPT_IMAGE
from donatello.providers.image_bytes import ImageFile
from donatello.providers.residency import country_of_region

CATALOGUE_DEFAULT_TIMEOUT_SECONDS = 60.0
GPT_IMAGE_DEFAULT_TIMEOUT_SECONDS = 180.0
#: where an answer's base64 images are: ``data[].b64_json``
IMAGE_KEYS = frozenset({"b64_json"})


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
        images: list[ImageFile] = []
        revised = region = None
        summaries: list[dict[str, object]] = []
        usages: list[dict[str, Any]] = []
        remaining, calls = request.n, 0
        while remaining > 0:  # sequential: a failure stops the rest, nothing runs on unobserved
            count = min(per_call, remaining)
            answer = await self._post(target, request, count)
            with answer.discarded_on_failure():
                for item in answer.payload["data"]:
                    images.append(await self._image(target, answer, item))
                    revised = revised or _str(item.get("revised_prompt"))
                    summaries.append(_item_safety(item))
            if isinstance(answer.payload.get("usage"), dict):
                usages.append(answer.payload["usage"])
            region = answer.headers.get("x-ms-region") or region
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

    async def _post(self, target: ProviderTarget, request: ImageRequest, count: int) -> answers.Answer:
        route = azure_body.route(target)
        sent = azure_body.body(target, request, count, route.model)
        headers = await target.credential.headers() if target.credential is not None else {}
        answer = await answers.post(
            self._http,
            route.url,
            params=route.params,
            json=sent,
            headers=headers,
            deadline=deadline_seconds(target),  # the whole exchange, body included
            error_for=azure_errors.error_for,
            image_keys=IMAGE_KEYS,
        )
        with answer.discarded_on_failure():
            payload = answer.payload
            data = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(data, list) or not data:
                raise ProviderUnavailable("the provider answered 200 without any image")
            if len(data) != count:
                raise ProviderUnavailable(f"asked for {count} images, the provider returned {len(data)}")
            items = [item if isinstance(item, dict) else {} for item in data]
            if (refusal := azure_errors.output_refusal(items)) is not None:
                raise refusal
        answer.payload = {"data": items, "usage": payload.get("usage")}
        return answer

    async def _image(self, target: ProviderTarget, answer: answers.Answer, item: dict[str, Any]) -> ImageFile:
        if (image := await answer.png(item.get("b64_json"))) is not None:
            return image
        if url := item.get("url"):  # a pre-signed blob URL (DALL-E 3 with response_format url)
            return await answers.download(self._http, url, deadline=deadline_seconds(target))
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

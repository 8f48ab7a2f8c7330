"""The ``aws-bedrock`` provider: Amazon Bedrock's InvokeModel for Nova Canvas and Stability models.

What is sent is :mod:`bedrock_body`; how a failure is read, :mod:`bedrock_errors`. Each request is
signed with SigV4 (service ``bedrock``, the model's region) by the model's ``aws-keys`` credential over
the exact bytes sent. One call per ``family.max_images_per_call`` images (Nova Canvas: up to 5;
Stability: 1); ``timeout_seconds`` bounds each whole call. Bedrock bills these models per image, so a
result carries no token usage: the catalogue's per-image price is the charge.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from donatello.providers import bedrock_body, bedrock_errors
from donatello.providers.cloud_credentials import AwsKeys
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import (
    ProviderError,
    ProviderMisconfigured,
    ProviderTimeout,
    ProviderUnavailable,
)
from donatello.providers.families import NOVA_CANVAS
from donatello.providers.image_bytes import png_from_base64

SIGNING_SERVICE = "bedrock"


class BedrockProvider:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        per_call = bedrock_body.family(target).max_images_per_call
        images: list[bytes] = []
        remaining = request.n
        while remaining > 0:  # sequential: a failure stops the rest
            count = min(per_call, remaining)
            images.extend(await self._invoke(target, request, count))
            remaining -= count
        return ImageResult(
            images=images,
            revised_prompt=None,
            safety=None,
            is_nsfw=False,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    async def _invoke(self, target: ProviderTarget, request: ImageRequest, count: int) -> list[bytes]:
        keys = target.credential
        if not isinstance(keys, AwsKeys):
            raise ProviderMisconfigured("an aws-bedrock model needs an aws-keys credential")
        route = bedrock_body.route(target)
        kind = bedrock_body.family(target)
        content = json.dumps(bedrock_body.body(target, request, count), separators=(",", ":")).encode()
        unsigned = {"content-type": "application/json", "accept": "application/json"}
        headers = keys.signed(
            "POST", route.url, content, unsigned, service=SIGNING_SERVICE, region=route.region
        )
        deadline = target.timeout_seconds
        try:
            async with asyncio.timeout(deadline):
                response = await self._http.post(
                    route.url, content=content, headers=headers, timeout=httpx.Timeout(deadline)
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProviderTimeout(f"no answer within {deadline:g}s") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"cannot reach the provider: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise bedrock_errors.error_for(response)
        try:
            payload: Any = response.json()
        except ValueError as exc:
            raise ProviderUnavailable("the provider answered 200 with a body that is not JSON") from exc
        if not isinstance(payload, dict):
            raise ProviderUnavailable("the provider answered 200 with a body that is not an object")
        refusal: ProviderError | None
        if kind is NOVA_CANVAS:
            refusal = bedrock_errors.nova_refusal(payload)
        else:
            refusal = bedrock_errors.stability_refusal(payload)
        if refusal is not None:
            raise refusal
        encoded = payload.get("images")
        if not isinstance(encoded, list) or not encoded:
            raise ProviderUnavailable("the provider answered 200 without any image")
        if len(encoded) != count:
            raise ProviderUnavailable(f"asked for {count} images, the provider returned {len(encoded)}")
        return [png_from_base64(item) for item in encoded]

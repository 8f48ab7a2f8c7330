"""The ``aws-bedrock`` provider: Amazon Bedrock's InvokeModel for Nova Canvas and Stability models.

What is sent is :mod:`bedrock_body`; how a failure is read, :mod:`bedrock_errors`. Each request is
signed with SigV4 (service ``bedrock``, the model's region) by the model's ``aws-keys`` credential over
the exact bytes sent. One call per ``family.max_images_per_call`` images (Nova Canvas: up to 5;
Stability: 1); ``timeout_seconds`` bounds each whole call. Bedrock bills these models per image, so a
result carries no token usage: the catalogue's per-image price is the charge.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from donatello.providers import answers, bedrock_body, bedrock_errors
from donatello.providers.cloud_credentials import AwsKeys
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import ProviderError, ProviderMisconfigured, ProviderUnavailable
from donatello.providers.families import NOVA_CANVAS
from donatello.providers.image_bytes import ImageFile

SIGNING_SERVICE = "bedrock"
#: where an answer's base64 images are: ``images[]`` (Nova Canvas and Stability alike)
IMAGE_KEYS = frozenset({"images"})


class BedrockProvider:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        per_call = bedrock_body.family(target).max_images_per_call
        images: list[ImageFile] = []
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

    async def _invoke(self, target: ProviderTarget, request: ImageRequest, count: int) -> list[ImageFile]:
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
        answer = await answers.post(
            self._http,
            route.url,
            content=content,
            headers=headers,
            deadline=target.timeout_seconds,
            error_for=bedrock_errors.error_for,
            image_keys=IMAGE_KEYS,
        )
        with answer.discarded_on_failure():
            payload: Any = answer.payload
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
            return [
                await answer.image(item, missing="an image in the answer is not base64 text")
                for item in encoded
            ]

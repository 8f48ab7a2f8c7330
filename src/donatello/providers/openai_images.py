"""The ``openai`` provider: OpenAI's own images API (gpt-image family), a fallback outside an Azure quota.

``POST {api_endpoint}/images/generations`` — the model's ``api_endpoint`` is the API's base URL
(``https://api.openai.com/v1``; any other base, such as a regional or loopback one, works the same way)
with ``Authorization: Bearer <key>`` and the model named in the body (``configuration.model``, else the
model's name: ``gpt-image-1``, ``gpt-image-1-mini``, ``gpt-image-1.5``). ``configuration.organization``
and ``configuration.project`` are sent as ``OpenAI-Organization`` / ``OpenAI-Project`` when set.

The key is the model's configured credential (Key Vault or an environment variable) sent as a bearer
token; an Entra token means nothing to OpenAI, so a managed-identity credential is a misconfiguration.
The body is the gpt-image body the Azure adapter sends (:mod:`azure_body`: sizes, quality, ``n`` up to
10, ``output_format``, ``background``, ``moderation``, ``user``) and a failure is read as
:mod:`azure_errors` reads OpenAI's ``{"error": {"message", "type", "param", "code"}}`` — except that an
echoed key (``Incorrect API key provided: sk-ab***yz``) is cut out before the reason is kept.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
import time
from typing import Any

import httpx
from PIL import Image

from donatello.providers import azure_body, azure_errors
from donatello.providers.azure_openai import deadline_seconds, token_usage
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import (
    ProviderError,
    ProviderMisconfigured,
    ProviderTimeout,
    ProviderUnavailable,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: what an OpenAI key looks like when an error message echoes part of it
_ECHOED_KEY = re.compile(r"\bsk-[A-Za-z0-9_*\-.]*")
_ORGANIZATION = re.compile(r"^org-[A-Za-z0-9]{1,64}$")
_PROJECT = re.compile(r"^proj_[A-Za-z0-9]{1,64}$")


class OpenAIProvider:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        per_call = azure_body.family(target).max_images_per_call
        images: list[bytes] = []
        usages: list[dict[str, Any]] = []
        remaining, calls = request.n, 0
        while remaining > 0:  # sequential: a failure stops the rest, nothing runs on unobserved
            count = min(per_call, remaining)
            payload = await self._post(target, request, count)
            for item in payload["data"]:
                images.append(decoded_png(item.get("b64_json")))
            if isinstance(payload.get("usage"), dict):
                usages.append(payload["usage"])
            remaining, calls = remaining - count, calls + 1
        return ImageResult(
            images=images,
            revised_prompt=None,  # gpt-image does not rewrite the prompt
            safety=None,  # OpenAI reports no per-category results on a success
            is_nsfw=False,
            latency_ms=int((time.perf_counter() - started) * 1000),
            usage=token_usage(usages, calls),
        )

    async def _post(self, target: ProviderTarget, request: ImageRequest, count: int) -> dict[str, Any]:
        model = str(target.configuration.get("model") or target.model)
        sent = azure_body.body(target, request, count, model)
        url = f"{target.endpoint.rstrip('/')}/images/generations"
        response = await post_json(
            self._http, url, json=sent, headers=await headers(target), deadline=deadline_seconds(target)
        )
        if response.status_code != 200:
            raise without_key(azure_errors.error_for(response))
        payload = json_of(response)
        data = payload.get("data")
        if not isinstance(data, list) or not data:
            raise ProviderUnavailable("the provider answered 200 without any image")
        if len(data) != count:
            raise ProviderUnavailable(f"asked for {count} images, the provider returned {len(data)}")
        items = [item if isinstance(item, dict) else {} for item in data]
        return {"data": items, "usage": payload.get("usage")}


async def headers(target: ProviderTarget) -> dict[str, str]:
    """``Authorization: Bearer <key>`` and the optional organization and project headers."""
    credential = target.credential
    if credential is None:
        raise ProviderMisconfigured("no API key is configured for it")
    if credential.kind == "managed-identity":
        raise ProviderMisconfigured("OpenAI takes an API key (Key Vault or environment), not an Entra token")
    key = (await credential.headers()).get("api-key")
    if not key:
        raise ProviderMisconfigured("its credential gives no API key")
    sent = {"Authorization": f"Bearer {key}"}
    config = target.configuration
    for name, header, shape in (
        ("organization", "OpenAI-Organization", _ORGANIZATION),
        ("project", "OpenAI-Project", _PROJECT),
    ):
        value = config.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not shape.match(value):
            raise ProviderMisconfigured(f"configuration.{name} is not an OpenAI {name} id")
        sent[header] = value
    return sent


async def post_json(
    http: httpx.AsyncClient,
    url: str,
    *,
    json: dict[str, object],
    headers: dict[str, str],
    deadline: float,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """One POST bounded as a whole by ``deadline`` (connecting, waiting and reading the body)."""
    try:
        async with asyncio.timeout(deadline):
            return await http.post(
                url, params=params, json=json, headers=headers, timeout=httpx.Timeout(deadline)
            )
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise ProviderTimeout(f"no answer within {deadline:g}s") from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"cannot reach the provider: {type(exc).__name__}") from exc


def json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError as exc:
        raise ProviderUnavailable("the provider answered 200 with a body that is not JSON") from exc
    if not isinstance(payload, dict):
        raise ProviderUnavailable("the provider answered 200 with a body that is not a JSON object")
    return payload


def decoded_png(encoded: object) -> bytes:
    """A base64 image as PNG (a JPEG or WebP answer is converted: the product stores PNG)."""
    if not isinstance(encoded, str) or not encoded:
        raise ProviderUnavailable("an image in the answer has no b64_json")
    try:
        return as_png(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ProviderUnavailable("the provider returned malformed base64 image data") from exc


def as_png(data: bytes) -> bytes:
    if data.startswith(PNG_MAGIC):
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return buffer.getvalue()
    except OSError as exc:  # Pillow cannot read it
        raise ProviderUnavailable("the provider returned an image that cannot be read") from exc


def without_key(error: ProviderError) -> ProviderError:
    """The error with any echoed key (``sk-ab***yz``) cut out of its reason."""
    cleaned = _ECHOED_KEY.sub("sk-…", error.reason)
    if cleaned != error.reason:
        error.reason = cleaned
        error.args = (cleaned,)
    return error

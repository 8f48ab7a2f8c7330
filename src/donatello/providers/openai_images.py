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

import re
import time
from typing import Any

import httpx

from donatello.providers import answers, azure_body, azure_errors
from donatello.providers.azure_openai import IMAGE_KEYS, deadline_seconds, token_usage
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import ProviderError, ProviderMisconfigured, ProviderUnavailable
from donatello.providers.image_bytes import ImageFile

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
        images: list[ImageFile] = []
        usages: list[dict[str, Any]] = []
        remaining, calls = request.n, 0
        while remaining > 0:  # sequential: a failure stops the rest, nothing runs on unobserved
            count = min(per_call, remaining)
            answer = await self._post(target, request, count)
            with answer.discarded_on_failure():
                for item in answer.payload["data"]:
                    images.append(
                        await answer.image(
                            item.get("b64_json"), missing="an image in the answer has no b64_json"
                        )
                    )
            if isinstance(answer.payload.get("usage"), dict):
                usages.append(answer.payload["usage"])
            remaining, calls = remaining - count, calls + 1
        return ImageResult(
            images=images,
            revised_prompt=None,  # gpt-image does not rewrite the prompt
            safety=None,  # OpenAI reports no per-category results on a success
            is_nsfw=False,
            latency_ms=int((time.perf_counter() - started) * 1000),
            usage=token_usage(usages, calls),
        )

    async def _post(self, target: ProviderTarget, request: ImageRequest, count: int) -> answers.Answer:
        model = str(target.configuration.get("model") or target.model)
        sent = azure_body.body(target, request, count, model)
        url = f"{target.endpoint.rstrip('/')}/images/generations"
        answer = await answers.post(
            self._http,
            url,
            json=sent,
            headers=await headers(target),
            deadline=deadline_seconds(target),
            error_for=lambda response: without_key(azure_errors.error_for(response)),
            image_keys=IMAGE_KEYS,
        )
        with answer.discarded_on_failure():
            payload = json_object(answer)
            data = payload.get("data")
            if not isinstance(data, list) or not data:
                raise ProviderUnavailable("the provider answered 200 without any image")
            if len(data) != count:
                raise ProviderUnavailable(f"asked for {count} images, the provider returned {len(data)}")
        answer.payload = {
            "data": [item if isinstance(item, dict) else {} for item in data],
            "usage": payload.get("usage"),
        }
        return answer


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


def json_object(answer: answers.Answer) -> dict[str, Any]:
    if not isinstance(answer.payload, dict):
        raise ProviderUnavailable("the provider answered 200 with a body that is not a JSON object")
    return answer.payload


def without_key(error: ProviderError) -> ProviderError:
    """The error with any echoed key (``sk-ab***yz``) cut out of its reason."""
    cleaned = _ECHOED_KEY.sub("sk-…", error.reason)
    if cleaned != error.reason:
        error.reason = cleaned
        error.args = (cleaned,)
    return error

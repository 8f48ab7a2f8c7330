"""The ``azure-openai`` provider: the Azure OpenAI images REST API (DALL-E 3, gpt-image-1) over httpx.

``POST {endpoint}/images/generations?api-version=...`` where ``endpoint`` is the deployment URL
(``https://<resource>.openai.azure.com/openai/deployments/<deployment>``). Configuration keys:
``api_version``, ``auth`` (``api-key`` — the default — or ``bearer`` for an Entra ID token),
``response_format`` (``b64_json`` default, ``url``, or null to omit it, as gpt-image-1 wants) and
``max_images_per_request`` (DALL-E 3 accepts n=1 only, so larger n is split into several calls).
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import (
    ContentFiltered,
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

DEFAULT_API_VERSION = "2024-02-01"
CONTENT_FILTER_CODES = {"content_policy_violation", "contentfilter", "content_filter"}
#: a category at or above one of these severities (or filtered outright) makes the image NSFW
NSFW_CATEGORIES = ("sexual", "violence", "hate", "self_harm")
SEVERITIES = ("safe", "low", "medium", "high")
NSFW_SEVERITY = "medium"


class AzureOpenAIProvider:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        per_call = max(1, int(str(target.configuration.get("max_images_per_request", 1))))
        images: list[bytes] = []
        revised: str | None = None
        safety: list[dict[str, object]] = []
        remaining = request.n
        while remaining > 0:  # sequential: a failure stops the rest, nothing runs on unobserved
            count = min(per_call, remaining)
            data = await self._post(target, request, count)
            for item in data:
                images.append(await self._image(target, item))
                revised = revised or _str(item.get("revised_prompt"))
                safety.append(_item_safety(item))
            remaining -= count
        merged = _merge_safety(safety)
        return ImageResult(
            images=images,
            revised_prompt=revised,
            safety=merged,
            is_nsfw=bool(merged and merged.get("is_nsfw")),
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    async def _post(self, target: ProviderTarget, request: ImageRequest, count: int) -> list[dict[str, Any]]:
        config = target.configuration
        body: dict[str, object] = {
            "prompt": _prompt(request),
            "n": count,
            "size": request.size,
            "quality": request.quality,
        }
        if request.style:
            body["style"] = request.style
        response_format = config.get("response_format", "b64_json")
        if response_format:
            body["response_format"] = response_format
        url = f"{target.endpoint.rstrip('/')}/images/generations"
        params = {"api-version": str(config.get("api_version", DEFAULT_API_VERSION))}
        try:
            response = await self._http.post(
                url,
                params=params,
                json=body,
                headers=await _auth_headers(target),
                timeout=httpx.Timeout(target.timeout_seconds),
            )
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"no answer within {target.timeout_seconds}s") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"cannot reach the provider: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise _error_for(response)
        try:
            payload = response.json()
            data = payload["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable("the provider answered 200 without image data") from exc
        if not isinstance(data, list) or len(data) != count:
            raise ProviderUnavailable(f"asked for {count} images, the provider returned {len(data)}")
        return [item if isinstance(item, dict) else {} for item in data]

    async def _image(self, target: ProviderTarget, item: dict[str, Any]) -> bytes:
        if encoded := item.get("b64_json"):
            try:
                return base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ProviderUnavailable("the provider returned malformed base64 image data") from exc
        if url := item.get("url"):
            try:  # a pre-signed blob URL: no credentials go with it
                response = await self._http.get(url, timeout=httpx.Timeout(target.timeout_seconds))
            except httpx.TimeoutException as exc:
                raise ProviderTimeout("downloading the generated image timed out") from exc
            except httpx.TransportError as exc:
                raise ProviderUnavailable("cannot download the generated image") from exc
            if response.status_code != 200:
                raise ProviderUnavailable(f"downloading the generated image gave HTTP {response.status_code}")
            return response.content
        raise ProviderUnavailable("an image in the answer has neither b64_json nor url")


def _prompt(request: ImageRequest) -> str:
    # The images API has no negative prompt; say it in words.
    if request.negative_prompt:
        return f"{request.prompt}\n\nAvoid: {request.negative_prompt}"
    return request.prompt


async def _auth_headers(target: ProviderTarget) -> dict[str, str]:
    if target.credential is None:
        return {}
    return await target.credential.headers()


def _error_for(response: httpx.Response) -> ProviderError:
    status = response.status_code
    error = _error_body(response)
    message = _str(error.get("message")) or f"HTTP {status}"
    retry_after = _retry_after(response.headers)
    if status == 429:
        return ProviderRateLimited(message, retry_after_seconds=retry_after, status_code=status)
    if status == 408:
        return ProviderTimeout(message, status_code=status)
    if status >= 500:
        return ProviderUnavailable(message, retry_after_seconds=retry_after, status_code=status)
    if status in (401, 403, 404):  # PermissionDenied, DeploymentNotFound: every call would fail alike
        code = _str(error.get("code"))
        named = code is not None and not code.isdigit()  # "DeploymentNotFound", not a repeated "401"
        return ProviderMisconfigured(f"{code}: {message}" if named else message, status_code=status)
    code = (_str(error.get("code")) or "").lower()
    inner = error.get("inner_error") or error.get("innererror") or {}
    inner = inner if isinstance(inner, dict) else {}
    inner_code = (_str(inner.get("code")) or "").lower()
    if code in CONTENT_FILTER_CODES or inner_code == "responsibleaipolicyviolation":
        safety = _merge_safety([_safety_of(inner.get("content_filter_results"), "prompt")])
        return ContentFiltered(
            message,
            status_code=status,
            safety=safety,
            is_nsfw=bool(safety and safety.get("is_nsfw")),
        )
    return ProviderRejected(message, status_code=status)


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_after(headers: httpx.Headers) -> float | None:
    """``retry-after-ms`` (Azure) first, then ``retry-after`` in seconds or as an HTTP date."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _item_safety(item: dict[str, Any]) -> dict[str, object]:
    prompt = item.get("prompt_filter_results")
    if isinstance(prompt, list):  # chat-style shape: [{"prompt_index": 0, "content_filter_results": {}}]
        prompt = prompt[0].get("content_filter_results") if prompt and isinstance(prompt[0], dict) else None
    return {
        **_safety_of(prompt, "prompt"),
        **_safety_of(item.get("content_filter_results"), "image"),
    }


def _safety_of(results: object, where: str) -> dict[str, object]:
    """Category results as ``{"<where>.<category>": {"severity": ..., "filtered": ...}}``."""
    if not isinstance(results, dict):
        return {}
    found: dict[str, object] = {}
    for category, result in results.items():
        if isinstance(result, dict) and ("severity" in result or "filtered" in result):
            found[f"{where}.{category}"] = {
                "severity": _str(result.get("severity")) or "safe",
                "filtered": bool(result.get("filtered", False)),
            }
    return found


def _merge_safety(parts: list[dict[str, object]]) -> dict[str, object] | None:
    """All category results, the worst severity seen (``max_severity``) and whether that is NSFW."""
    categories: dict[str, object] = {}
    for part in parts:
        for key, result in part.items():
            previous = categories.get(key)
            if previous is None or _rank(result) > _rank(previous):
                categories[key] = result
    if not categories:
        return None
    worst = max((_rank(result) for result in categories.values()), default=0)
    nsfw = any(
        key.split(".", 1)[1] in NSFW_CATEGORIES
        and (_rank(result) >= SEVERITIES.index(NSFW_SEVERITY) or _filtered(result))
        for key, result in categories.items()
    )
    return {"categories": categories, "max_severity": SEVERITIES[worst], "is_nsfw": nsfw}


def _rank(result: object) -> int:
    severity = result.get("severity") if isinstance(result, dict) else None
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def _filtered(result: object) -> bool:
    return bool(isinstance(result, dict) and result.get("filtered"))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

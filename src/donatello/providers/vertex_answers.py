"""How the ``google-vertex`` adapter reads Vertex AI's answers: errors, safety blocks, images and usage.

* An error is ``{"error": {"code", "message", "status"}}`` (Google's API error shape): 401
  ``UNAUTHENTICATED``, 403 ``PERMISSION_DENIED`` (no ``aiplatform.endpoints.predict``, or the API is not
  enabled) and 404 ``NOT_FOUND`` (no such publisher model in the location) make the model unavailable;
  429 ``RESOURCE_EXHAUSTED`` is a rate limit; 504 ``DEADLINE_EXCEEDED`` a timeout; other 5xx outages;
  any other 4xx (``INVALID_ARGUMENT``) a rejected request.
* Safety is final: a 200 with ``promptFeedback.blockReason`` (the prompt) or a candidate whose
  ``finishReason`` is a safety reason (``SAFETY``, ``IMAGE_SAFETY``, ``PROHIBITED_CONTENT``, …: the image).
* ``usageMetadata`` is the bill: prompt tokens by modality, and the output's image tokens
  (``candidatesTokensDetails`` IMAGE, else ``candidatesTokenCount``).
"""

from __future__ import annotations

from typing import Any

import httpx

from donatello.providers.azure_errors import retry_after
from donatello.providers.contract import TokenUsage
from donatello.providers.errors import (
    ContentFiltered,
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from donatello.providers.safety import NSFW_CATEGORIES

SAFETY_FINISH_REASONS = {
    "SAFETY",
    "IMAGE_SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
}
#: Google's harm categories in the product's words
CATEGORIES = {
    "HARM_CATEGORY_SEXUALLY_EXPLICIT": "sexual",
    "HARM_CATEGORY_HATE_SPEECH": "hate",
    "HARM_CATEGORY_HARASSMENT": "harassment",
    "HARM_CATEGORY_DANGEROUS_CONTENT": "dangerous",
}
MAX_REASON_CHARS = 300
#: where an answer's base64 images are: ``candidates[].content.parts[].inlineData.data``
IMAGE_KEYS = frozenset({"data"})


def error_for(response: httpx.Response) -> ProviderError:
    status = response.status_code
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        reason = _short(f"{error.get('status') or status}: {error.get('message') or ''}".strip())
    else:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        reason = f"HTTP {status} with a {kind} body, not the API's JSON"
    if status in (401, 403, 404):
        return ProviderMisconfigured(reason, status_code=status)
    wait = retry_after(response.headers)
    if status == 429:
        return ProviderRateLimited(reason, retry_after_seconds=wait, status_code=status)
    if status in (408, 504):
        return ProviderTimeout(reason, status_code=status)
    if status >= 500:
        return ProviderUnavailable(reason, retry_after_seconds=wait, status_code=status)
    return ProviderRejected(reason, status_code=status)


def safety_refusal(payload: dict[str, Any]) -> ContentFiltered | None:
    feedback = payload.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        categories = _blocked(feedback.get("safetyRatings"))
        return _refused(f"the prompt was blocked ({feedback['blockReason']})", "prompt", categories)
    for candidate in _candidates(payload):
        finish = candidate.get("finishReason")
        if finish in SAFETY_FINISH_REASONS:
            categories = _blocked(candidate.get("safetyRatings"))
            return _refused(f"the generated image was blocked ({finish})", "output", categories)
    return None


def images(payload: dict[str, Any]) -> tuple[list[str], str | None]:
    """The base64 images of the first candidate, and its finish reason."""
    candidates = _candidates(payload)
    if not candidates:
        return [], None
    content = candidates[0].get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    found = [
        part["inlineData"].get("data")
        for part in parts or []
        if isinstance(part, dict)
        and isinstance(part.get("inlineData"), dict)
        and str(part["inlineData"].get("mimeType", "")).startswith("image/")
    ]
    finish = candidates[0].get("finishReason")
    return found, finish if isinstance(finish, str) else None


def usage(payload: dict[str, Any]) -> TokenUsage | None:
    """The call's bill, or None when it has none readable (then it is charged at the hold)."""
    meta = payload.get("usageMetadata")
    if not isinstance(meta, dict) or _count(meta.get("candidatesTokenCount")) is None:
        return None
    prompt = _by_modality(meta.get("promptTokensDetails"))
    output = _by_modality(meta.get("candidatesTokensDetails"))
    return TokenUsage(
        input_text_tokens=prompt.get("TEXT", _count(meta.get("promptTokenCount")) or 0),
        input_image_tokens=prompt.get("IMAGE", 0),
        output_image_tokens=output.get("IMAGE", _count(meta.get("candidatesTokenCount")) or 0),
        raw=dict(meta),
    )


def _by_modality(details: object) -> dict[str, int]:
    found: dict[str, int] = {}
    for item in details if isinstance(details, list) else []:
        if isinstance(item, dict) and isinstance(item.get("modality"), str):
            found[item["modality"]] = found.get(item["modality"], 0) + (_count(item.get("tokenCount")) or 0)
    return found


def _refused(reason: str, stage: str, categories: list[str]) -> ContentFiltered:
    return ContentFiltered(
        reason,
        stage=stage,
        categories=categories or ["content_filter"],
        status_code=200,
        is_nsfw=any(category in NSFW_CATEGORIES for category in categories),
    )


def _blocked(ratings: object) -> list[str]:
    return sorted(
        {
            CATEGORIES.get(str(rating.get("category")), str(rating.get("category")).lower())
            for rating in (ratings if isinstance(ratings, list) else [])
            if isinstance(rating, dict) and rating.get("blocked") is True
        }
    )


def _candidates(payload: dict[str, Any]) -> list[dict[str, Any]]:
    found = payload.get("candidates")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"

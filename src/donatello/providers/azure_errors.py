"""How the ``azure-openai`` adapter reads a failed answer (Azure OpenAI and OpenAI's images API).

In order:

1. **Safety is final** (never retried, never sent to another model): gpt-image's ``moderation_blocked``
   (``type: image_generation_user_error``, categories in the message as ``safety_violations=[…]``),
   ``content_policy_violation`` / ``content_filter`` with Azure's inner ``ResponsibleAIPolicyViolation``
   (categories: those its ``content_filter_results`` filtered), and ``contentFilter`` (stage ``output``
   when the message says the generated image was filtered).
2. **Misconfiguration**: 401, 403, 404 (``PermissionDenied``, ``DeploymentNotFound``, a wrong key) —
   the model cannot work until someone changes it. So is a 400 refusing the body itself
   (``unknown_parameter``, ``invalid_value`` of anything but the prompt, ``OperationNotSupported``, an
   unsupported ``api-version``): the adapter checks the request against the model's family before
   calling, so such a refusal means the configured family or API version does not match the deployment.
3. By status, as OpenAI's own client retries: 408 timeout, 409 conflict, 429 rate limit and 5xx are
   retryable; ``insufficient_quota`` is not (the account is out of credit, waiting will not help); any
   other 4xx is a rejected request. A provider's ``x-should-retry: true|false`` overrides the status.

A body that is not JSON (a gateway's 502 HTML page) is described by status and content type only: the
page never reaches a reason or a log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from donatello.providers import safety
from donatello.providers.errors import (
    ContentFiltered,
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

#: 400 codes that say the deployment does not speak the body the model's configuration chose
MISMATCH_CODES = {"unknown_parameter", "invalid_value", "operationnotsupported"}
PROMPT_FILTER_CODES = {"content_policy_violation", "content_filter", "contentfilter", "moderation_blocked"}
OUTPUT_FILTER_WORDS = ("generated image", "output image")
MAX_REASON_CHARS = 300
_SAFETY_VIOLATIONS = re.compile(r"safety_violations=\[([^\]]{0,500})\]")


def error_for(response: httpx.Response) -> ProviderError:
    status = response.status_code
    error = _error_body(response)
    if error is None:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return _by_status(response, status, {}, f"HTTP {status} with a {kind} body, not the API's JSON")
    message = _short(_str(error.get("message")) or f"HTTP {status}")
    if (refusal := _safety_refusal(error, message, status)) is not None:
        return refusal
    code = _str(error.get("code")) or ""
    if status in (401, 403, 404) or (status == 400 and _mismatch(error, code, message)):
        return ProviderMisconfigured(f"{code or status}: {message}", status_code=status)
    return _by_status(response, status, error, message)


def retry_after(headers: httpx.Headers) -> float | None:
    """``retry-after-ms`` (Azure, OpenAI) first, then ``retry-after`` in seconds or as an HTTP date."""
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
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def output_refusal(items: list[dict[str, Any]]) -> ContentFiltered | None:
    """A 200 whose image the output filter flagged (``content_filter_results`` with ``filtered: true``)."""
    flagged = [safety.filtered_categories(item.get("content_filter_results")) for item in items]
    categories = sorted({category for found in flagged for category in found})
    if not categories:
        return None
    summary = safety.merge([safety.results_of(item.get("content_filter_results"), "image") for item in items])
    return ContentFiltered(
        "the generated image was filtered by the provider's safety system",
        stage="output",
        categories=categories,
        status_code=200,
        safety=summary,
        is_nsfw=bool(summary and summary.get("is_nsfw")),
    )


def _safety_refusal(error: dict[str, Any], message: str, status: int) -> ContentFiltered | None:
    code = (_str(error.get("code")) or "").lower()
    inner = error.get("inner_error") or error.get("innererror") or {}
    inner = inner if isinstance(inner, dict) else {}
    inner_code = (_str(inner.get("code")) or "").lower()
    if code not in PROMPT_FILTER_CODES and inner_code != "responsibleaipolicyviolation":
        return None
    results = inner.get("content_filter_results") or inner.get("content_filter_result")
    categories = safety.filtered_categories(results)
    if not categories and (listed := _SAFETY_VIOLATIONS.search(message)):
        categories = sorted({part.strip() for part in listed.group(1).split(",") if part.strip()})
    stage = "output" if any(word in message.lower() for word in OUTPUT_FILTER_WORDS) else "prompt"
    summary = safety.merge([safety.results_of(results, "image" if stage == "output" else "prompt")])
    return ContentFiltered(
        message,
        stage=stage,
        categories=categories,
        status_code=status,
        safety=summary,
        is_nsfw=bool(summary and summary.get("is_nsfw")) or _nsfw_word(categories),
    )


def _by_status(response: httpx.Response, status: int, error: dict[str, Any], reason: str) -> ProviderError:
    should_retry = {"true": True, "false": False}.get(response.headers.get("x-should-retry", "").lower())
    kind: type[ProviderError] = ProviderRejected
    if status == 429:
        kind = ProviderRateLimited
        out_of_credit = "insufficient_quota" in {_str(error.get("code")), _str(error.get("type"))}
        if should_retry is None and out_of_credit:
            should_retry = False
    elif status == 408:
        kind = ProviderTimeout
    elif status == 409 or status >= 500:
        kind = ProviderUnavailable
    wait = retry_after(response.headers)
    return kind(reason, retry_after_seconds=wait, status_code=status, retryable=should_retry)


def _mismatch(error: dict[str, Any], code: str, message: str) -> bool:
    if code.lower() in MISMATCH_CODES:
        return error.get("param") != "prompt"
    return code == "BadRequest" and "api version" in message.lower().replace("-", " ")


def _error_body(response: httpx.Response) -> dict[str, Any] | None:
    """The ``error`` object; ``{}`` for JSON without one; None when the body is not JSON at all."""
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}


def _nsfw_word(categories: list[str]) -> bool:
    return any(category.replace("-", "_") in safety.NSFW_CATEGORIES for category in categories)


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

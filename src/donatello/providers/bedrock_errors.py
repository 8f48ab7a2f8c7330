"""How the ``aws-bedrock`` adapter reads an answer that is not a usable image.

A failed InvokeModel names its exception in the ``x-amzn-ErrorType`` header (``ValidationException:
http://…``) and explains it in the body's ``message`` (``Message`` in some services' spelling):

1. **Safety is final**: a ``ValidationException`` saying the request or the generated image was
   "blocked by our content filters" (Nova Canvas), and a 200 whose ``finish_reasons`` are not null
   (Stability: ``Filter reason: prompt`` / ``output image``) or whose ``error`` says images were blocked
   (Nova Canvas).
2. **Misconfiguration** (the model is made unavailable): ``AccessDeniedException`` (the key may not
   invoke the model, or model access was never granted), ``UnrecognizedClientException`` (no such key),
   ``InvalidSignatureException`` (a wrong secret), ``ExpiredTokenException``, ``ResourceNotFoundException``.
3. ``ThrottlingException``, ``ServiceQuotaExceededException`` and ``ModelNotReadyException`` are rate
   limits (a ``Retry-After`` is honoured when sent); ``ModelTimeoutException`` a timeout;
   ``ServiceUnavailableException``, ``InternalServerException`` and ``ModelErrorException`` outages; any
   other ``ValidationException`` a rejected request.
"""

from __future__ import annotations

from typing import Any

import httpx

from donatello.providers.azure_errors import retry_after
from donatello.providers.errors import (
    ContentFiltered,
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

MISCONFIGURED = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ResourceNotFoundException",
}
RATE_LIMITED = {"ThrottlingException", "ServiceQuotaExceededException", "ModelNotReadyException"}
OUTAGES = {"ServiceUnavailableException", "InternalServerException", "ModelErrorException"}
FILTER_WORDS = "content filters"
OUTPUT_WORDS = ("generated image", "output image")
MAX_REASON_CHARS = 300


def error_for(response: httpx.Response) -> ProviderError:
    status = response.status_code
    kind = response.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    message = _message(response)
    if message is None:
        content = response.headers.get("content-type", "no content type").split(";")[0]
        message = f"HTTP {status} with a {content} body, not the API's JSON"
    reason = _short(f"{kind}: {message}" if kind else message)
    if kind == "ValidationException" and FILTER_WORDS in message.lower():
        stage = "output" if any(word in message.lower() for word in OUTPUT_WORDS) else "prompt"
        return ContentFiltered(
            _short(message), stage=stage, categories=["content_filter"], status_code=status
        )
    if kind in MISCONFIGURED or status in (401, 403, 404):
        return ProviderMisconfigured(reason, status_code=status)
    wait = retry_after(response.headers)
    if kind in RATE_LIMITED or status == 429:
        return ProviderRateLimited(reason, retry_after_seconds=wait, status_code=status)
    if kind == "ModelTimeoutException" or status == 408:
        return ProviderTimeout(reason, status_code=status)
    if kind in OUTAGES or status >= 500 or status == 424:
        return ProviderUnavailable(reason, retry_after_seconds=wait, status_code=status)
    return ProviderRejected(reason, status_code=status)


def stability_refusal(payload: dict[str, Any]) -> ProviderError | None:
    """Stability's 200 with a non-null ``finish_reasons`` entry: a filter (final) or an inference error."""
    reasons = payload.get("finish_reasons")
    found = [str(reason) for reason in reasons if reason] if isinstance(reasons, list) else []
    if not found:
        return None
    said = found[0]
    if said.lower().startswith("filter reason"):
        stage = "output" if "output" in said.lower() else "prompt"
        return ContentFiltered(
            f"the model's filter refused the {'image' if stage == 'output' else 'prompt'} ({said})",
            stage=stage,
            categories=["content_filter"],
            status_code=200,
        )
    return ProviderUnavailable(f"the model answered {said!r} instead of an image", status_code=200)


def nova_refusal(payload: dict[str, Any]) -> ContentFiltered | None:
    """Nova Canvas's 200 whose ``error`` says generated images were blocked by its content filters."""
    error = payload.get("error")
    if isinstance(error, str) and FILTER_WORDS in error.lower():
        return ContentFiltered(_short(error), stage="output", categories=["content_filter"], status_code=200)
    return None


def _message(response: httpx.Response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    message = payload.get("message") or payload.get("Message")
    return message if isinstance(message, str) and message else f"HTTP {response.status_code}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"

"""Errors of the provider layer.

``ProviderError`` and its subclasses describe a failed call to a model provider; they are not HTTP
errors (the worker turns them into a retry, a fallback or a failed generation). The ``DomainError``
subclasses below are what the API reports when a request names a model it cannot have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from donatello.core.errors import Conflict, DomainError, ServiceUnavailable, ValidationFailed


class ProviderError(Exception):
    """A provider call failed. ``retryable``: the same call may succeed later (timeouts, 429, 5xx) —
    each kind says so, and a provider's own word (``x-should-retry``) overrides it per error."""

    retryable: bool = False
    content_filtered: bool = False

    def __init__(
        self,
        reason: str,
        *,
        retry_after_seconds: float | None = None,
        status_code: int | None = None,
        safety: dict[str, object] | None = None,
        is_nsfw: bool = False,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(reason)
        if retryable is not None:
            self.retryable = retryable
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds
        self.status_code = status_code
        self.safety = safety
        self.is_nsfw = is_nsfw
        #: calls made before this error was raised for good (set by ``call_with_retries``)
        self.attempts = 1


class ProviderTimeout(ProviderError):
    retryable = True


class ProviderRateLimited(ProviderError):
    retryable = True


class ProviderUnavailable(ProviderError):
    """5xx, connection refused, malformed answer: the provider is not working right now."""

    retryable = True


class ContentFiltered(ProviderError):
    """The provider's content filter refused the prompt or the image: no retry, no fallback, no charge.

    ``stage`` is ``prompt`` (refused before generating) or ``output`` (an image was refused);
    ``categories`` are the provider's words for why (``violence``, ``sexual``, ...), never the prompt.
    """

    content_filtered = True

    def __init__(
        self,
        reason: str,
        *,
        stage: str = "prompt",
        categories: Sequence[str] = (),
        status_code: int | None = None,
        safety: dict[str, object] | None = None,
        is_nsfw: bool = False,
    ) -> None:
        super().__init__(reason, status_code=status_code, safety=safety, is_nsfw=is_nsfw)
        self.stage = stage
        self.categories = list(categories)


class ProviderRejected(ProviderError):
    """The provider refused the request as such (bad size, bad credential): retrying will not help."""


class ProviderMisconfigured(ProviderError):
    """401, 403 or 404 (``PermissionDenied``, ``DeploymentNotFound``): the model's credential,
    permission or deployment is wrong. Not retried; the model is made unavailable, with this reason,
    until an administrator changes its configuration."""


class CredentialUnavailable(Exception):
    """A model's credential could not be obtained (Key Vault refused or is unreachable, no managed-identity
    token, the environment variable is not set): no call is made and the model is made unavailable.

    ``reason`` is in plain words for people; ``detail`` is the error behind it for administrators. Neither
    ever holds the secret."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


class ProvidersExhausted(ProviderError):
    """Every candidate failed; ``failures`` lists ``provider/model: reason`` in the order tried."""

    def __init__(self, failures: list[str], last: ProviderError | None) -> None:
        super().__init__("; ".join(failures) or "no candidate to call")
        self.failures = failures
        self.last = last


class UnknownModelRequested(ValidationFailed):
    type = "unknown-model"
    title = "No such model"

    def __init__(self, requested: str) -> None:
        super().__init__(f"No active model matches {requested!r}", field="model", requested=requested)


class AmbiguousModel(ValidationFailed):
    type = "ambiguous-model"
    title = "The model name matches several providers"

    def __init__(self, requested: str, matches: list[str]) -> None:
        super().__init__(
            f"{requested!r} is offered by several providers; name one of {', '.join(matches)}",
            field="model",
            matches=matches,
        )


class UnsupportedOption(ValidationFailed):
    type = "unsupported-option"
    title = "The model does not support this option"

    def __init__(self, model: str, option: str, value: str, supported: list[str]) -> None:
        super().__init__(
            f"{model} does not support {option} {value}; supported: {', '.join(supported)}",
            field=option,
            supported=supported,
        )


class OptionNotOffered(ValidationFailed):
    """The vendor has no such option (a negative prompt) or not this value (a seed beyond its range)."""

    type = "unsupported-option"
    title = "The model does not support this option"

    def __init__(self, detail: str, option: str) -> None:
        super().__init__(detail, field=option)


class ModelUnavailable(ServiceUnavailable):
    type = "model-unavailable"
    title = "The model is temporarily unavailable"

    def __init__(self, model: str, retry_after_seconds: float) -> None:
        super().__init__(
            f"{model} failed repeatedly and is paused; try again later or choose another model",
            model=model,
        )
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_seconds)))}


class ModelCannotRun(ServiceUnavailable):
    """Not a passing outage: the model is missing what any call needs (its credentials)."""

    type = "model-cannot-run"
    title = "The model cannot run"

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"{model} cannot run: {reason}; choose another model", model=model)


class NoModelAvailable(ServiceUnavailable):
    type = "no-model-available"
    title = "No model can serve this request"

    def __init__(self, size: str, quality: str) -> None:
        super().__init__(
            f"No active, available model supports size {size} at quality {quality} within the price limit",
            size=size,
            quality=quality,
        )


class ProviderModelExists(Conflict):
    type = "provider-model-exists"
    title = "The provider already offers this model"

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(f"{provider}/{model} is already registered", provider=provider, model=model)


class SecretInConfiguration(ValidationFailed):
    type = "secret-in-configuration"
    title = "Secrets belong in Key Vault"

    def __init__(self, key: str) -> None:
        DomainError.__init__(
            self,
            f"configuration.{key} looks like a secret; keep it in Key Vault (or an environment variable) and "
            "set config.credential",
            field=f"configuration.{key}",
        )

"""What the generation worker hands a provider adapter, and what it gets back.

These types know nothing about the database or HTTP: a ``ProviderTarget`` is a model's row and its
configuration resolved into plain values (secrets included, so it is never logged or returned).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from donatello.providers.image_bytes import ImageFile


@dataclass(frozen=True)
class TokenUsage:
    """What a token-metered provider billed for one call (the response's ``usage`` block)."""

    input_text_tokens: int
    input_image_tokens: int
    output_image_tokens: int
    raw: dict[str, object] = field(default_factory=dict)  # the block as the provider returned it


class ProviderCredential(Protocol):
    """How a call proves who it is: an ``api-key`` header or an Entra bearer token.

    ``kind`` names where it comes from (``key-vault``, ``environment``, ``managed-identity``);
    ``headers()`` is awaited before every call, so a token is refreshed shortly before it expires.
    """

    @property
    def kind(self) -> str: ...

    async def headers(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class ApiKeyHeader:
    """A key sent as Azure's ``api-key`` header."""

    key: str = field(repr=False)
    kind: str = "api-key"

    async def headers(self) -> dict[str, str]:
        return {"api-key": self.key}


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str | None
    size: str
    quality: str
    style: str | None
    n: int
    seed: int | None
    #: a stable hash of the requesting user, sent as ``user`` for the provider's abuse monitoring
    end_user: str | None = None


@dataclass(frozen=True)
class ImageResult:
    images: list[ImageFile]  # PNG files, one per image, written as the answer arrived (``image_bytes``)
    revised_prompt: str | None
    safety: dict[str, object] | None
    is_nsfw: bool
    latency_ms: int
    usage: TokenUsage | None = None  # None from providers that do not meter tokens
    #: ISO 3166-1 alpha-2 country the provider says it processed the request in (a region header)
    processed_in: str | None = None


@dataclass(frozen=True)
class ProviderTarget:
    provider: str
    model: str
    endpoint: str
    timeout_seconds: float
    max_retries: int
    configuration: dict[str, object] = field(default_factory=dict)
    credential: ProviderCredential | None = field(default=None, repr=False)  # never printed
    rate_limit_per_minute: int | None = None  # the platform's allowance with this provider
    token_limit_per_minute: int | None = None  # and its tokens, for a model priced per token


class ImageProvider(Protocol):
    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult: ...

"""Model providers: the registry (model_providers/provider_configs), model selection with fallbacks,
the adapters that call each provider, retries, and the availability cache."""

from donatello.providers.adapters import adapter_for
from donatello.providers.availability import (
    Availability,
    InProcessAvailability,
    RedisAvailability,
    availability_for,
    watched,
)
from donatello.providers.contract import (
    ApiKeyHeader,
    ImageProvider,
    ImageRequest,
    ImageResult,
    ProviderCredential,
    ProviderTarget,
    TokenUsage,
)
from donatello.providers.errors import (
    ContentFiltered,
    CredentialUnavailable,
    ModelCannotRun,
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProvidersExhausted,
    ProviderTimeout,
    ProviderUnavailable,
)
from donatello.providers.execution import Outcome, call_with_retries, generate_with_fallback
from donatello.providers.image_bytes import ImageFile, arrive_in, arriving_in
from donatello.providers.selection import Candidate, CredentialSource, candidates, priced_offers
from donatello.providers.unavailable import UnavailableModels

__all__ = [
    "ApiKeyHeader",
    "Availability",
    "Candidate",
    "ContentFiltered",
    "CredentialSource",
    "CredentialUnavailable",
    "ImageFile",
    "ImageProvider",
    "ImageRequest",
    "ImageResult",
    "InProcessAvailability",
    "ModelCannotRun",
    "Outcome",
    "ProviderCredential",
    "ProviderError",
    "ProviderMisconfigured",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderTarget",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ProvidersExhausted",
    "RedisAvailability",
    "TokenUsage",
    "UnavailableModels",
    "adapter_for",
    "arrive_in",
    "arriving_in",
    "availability_for",
    "call_with_retries",
    "candidates",
    "generate_with_fallback",
    "priced_offers",
    "watched",
]

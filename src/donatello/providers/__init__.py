"""Model providers: the registry (model_providers/provider_configs), model selection with fallbacks,
the adapters that call each provider, retries, and the availability cache."""

from donatello.providers.adapters import adapter_for
from donatello.providers.availability import (
    Availability,
    InProcessAvailability,
    RedisAvailability,
    availability_for,
)
from donatello.providers.contract import ImageProvider, ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import (
    ContentFiltered,
    ModelCannotRun,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProvidersExhausted,
    ProviderTimeout,
    ProviderUnavailable,
)
from donatello.providers.execution import Outcome, call_with_retries, generate_with_fallback
from donatello.providers.selection import Candidate, candidates, priced_offers

__all__ = [
    "Availability",
    "Candidate",
    "ContentFiltered",
    "ImageProvider",
    "ImageRequest",
    "ImageResult",
    "InProcessAvailability",
    "ModelCannotRun",
    "Outcome",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderTarget",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ProvidersExhausted",
    "RedisAvailability",
    "adapter_for",
    "availability_for",
    "call_with_retries",
    "candidates",
    "generate_with_fallback",
    "priced_offers",
]

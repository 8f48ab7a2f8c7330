"""Which adapter speaks to which provider, and whether a model can run at all. What each model may be
asked (sizes, qualities, images per call) is its family's to say: :mod:`donatello.providers.families`."""

from __future__ import annotations

import httpx

from donatello.models import ModelProvider, ProviderConfig
from donatello.providers.azure_openai import AzureOpenAIProvider
from donatello.providers.bedrock import BedrockProvider
from donatello.providers.contract import ImageProvider
from donatello.providers.errors import ProviderRejected
from donatello.providers.flux_foundry import FluxFoundryProvider
from donatello.providers.local import LocalProvider
from donatello.providers.openai_images import OpenAIProvider
from donatello.providers.vertex import VertexGeminiProvider

#: providers an adapter speaks to; a model of any other provider is listed but never chosen
PROVIDER_NAMES = frozenset(
    {"local", "azure-openai", "openai", "azure-foundry", "aws-bedrock", "google-vertex"}
)
#: providers no call reaches without a credential (``provider_configs.credential``)
NEEDS_CREDENTIAL = frozenset({"azure-openai", "openai", "azure-foundry", "aws-bedrock", "google-vertex"})


def adapter_for(provider_name: str, *, http: httpx.AsyncClient) -> ImageProvider:
    if provider_name == "local":
        return LocalProvider()
    if provider_name == "azure-openai":
        return AzureOpenAIProvider(http)
    if provider_name == "openai":
        return OpenAIProvider(http)
    if provider_name == "azure-foundry":
        return FluxFoundryProvider(http)
    if provider_name == "aws-bedrock":
        return BedrockProvider(http)
    if provider_name == "google-vertex":
        return VertexGeminiProvider(http)
    raise ProviderRejected(f"no adapter for provider {provider_name!r}")


def cannot_run(model: ModelProvider, config: ProviderConfig | None) -> str | None:
    """Why no call to this model can succeed whatever the moment (not a passing outage), or None: no
    adapter, made unavailable with a reason (until an administrator changes it), or no credential."""
    if model.provider_name not in PROVIDER_NAMES:
        return f"no adapter speaks to {model.provider_name}"
    if model.unavailable_reason is not None:
        return model.unavailable_reason
    if model.provider_name in NEEDS_CREDENTIAL and (config is None or config.credential is None):
        return "no credentials are configured for it"
    return None

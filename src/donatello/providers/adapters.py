"""Which adapter speaks to which provider."""

from __future__ import annotations

import httpx

from donatello.providers.azure_openai import AzureOpenAIProvider
from donatello.providers.contract import ImageProvider
from donatello.providers.errors import ProviderRejected
from donatello.providers.local import LOCAL_SIZES, LocalProvider

#: provider name -> sizes it accepts unless its configuration lists ``sizes``
SUPPORTED_SIZES: dict[str, tuple[str, ...]] = {
    "local": LOCAL_SIZES,
    "azure-openai": ("1024x1024", "1792x1024", "1024x1792"),
}
#: provider name -> qualities it accepts unless its configuration lists ``qualities``
SUPPORTED_QUALITIES: dict[str, tuple[str, ...]] = {
    "local": ("standard", "hd"),
    "azure-openai": ("standard", "hd"),
}
PROVIDER_NAMES = frozenset(SUPPORTED_SIZES)
#: providers no call reaches without a credential (provider_configs.api_key_vault_ref)
NEEDS_CREDENTIAL = frozenset({"azure-openai"})


def adapter_for(provider_name: str, *, http: httpx.AsyncClient) -> ImageProvider:
    if provider_name == "local":
        return LocalProvider()
    if provider_name == "azure-openai":
        return AzureOpenAIProvider(http)
    raise ProviderRejected(f"no adapter for provider {provider_name!r}")

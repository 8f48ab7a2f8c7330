"""Which adapter speaks to which provider. What each model may be asked (sizes, qualities, images per
call) is its family's to say: :mod:`donatello.providers.families`."""

from __future__ import annotations

import httpx

from donatello.providers.azure_openai import AzureOpenAIProvider
from donatello.providers.contract import ImageProvider
from donatello.providers.errors import ProviderRejected
from donatello.providers.local import LocalProvider

#: providers an adapter speaks to; a model of any other provider is listed but never chosen
PROVIDER_NAMES = frozenset({"local", "azure-openai"})
#: providers no call reaches without a credential (``provider_configs.credential``)
NEEDS_CREDENTIAL = frozenset({"azure-openai"})


def adapter_for(provider_name: str, *, http: httpx.AsyncClient) -> ImageProvider:
    if provider_name == "local":
        return LocalProvider()
    if provider_name == "azure-openai":
        return AzureOpenAIProvider(http)
    raise ProviderRejected(f"no adapter for provider {provider_name!r}")

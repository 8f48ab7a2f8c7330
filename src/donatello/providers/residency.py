"""Where inference runs: a model's ``processing_country`` and a department's ``require_processing_in``.

A model records the ISO 3166-1 alpha-2 country its deployment processes prompts in, or none for
"anywhere" (a Global deployment routes to any region; a Data Zone one to any region of the zone). A
department that requires a country is only ever served by models processing there: ``auto`` chooses among
them alone (fallbacks included), and naming another model is refused with 422 naming the rule. What a
generation records as ``processed_in`` is the provider's own word where it sends one (Azure's
``x-ms-region`` header), else the model's country.
"""

from __future__ import annotations

import re
from typing import Any

from donatello.core.errors import ValidationFailed
from donatello.models import ModelProvider

COUNTRY = re.compile(r"^[A-Z]{2}$")
#: deployment types whose prompts may be processed in any region (of the world, or of a data zone)
ROUTED_ANYWHERE = ("Global", "DataZone")

#: Azure regions (as ``x-ms-region`` names them) and the country each is in
AZURE_REGIONS: dict[str, str] = {
    "australiaeast": "AU",
    "australiasoutheast": "AU",
    "australiacentral": "AU",
    "australiacentral2": "AU",
    "eastus": "US",
    "eastus2": "US",
    "westus": "US",
    "westus3": "US",
    "northcentralus": "US",
    "southcentralus": "US",
    "centralus": "US",
    "canadaeast": "CA",
    "canadacentral": "CA",
    "uksouth": "GB",
    "ukwest": "GB",
    "francecentral": "FR",
    "germanywestcentral": "DE",
    "swedencentral": "SE",
    "switzerlandnorth": "CH",
    "norwayeast": "NO",
    "polandcentral": "PL",
    "spaincentral": "ES",
    "italynorth": "IT",
    "westeurope": "NL",
    "northeurope": "IE",
    "japaneast": "JP",
    "japanwest": "JP",
    "koreacentral": "KR",
    "southindia": "IN",
    "centralindia": "IN",
    "southeastasia": "SG",
    "eastasia": "HK",
    "brazilsouth": "BR",
    "southafricanorth": "ZA",
    "uaenorth": "AE",
    "newzealandnorth": "NZ",
}


class ProcessingLocationRequired(ValidationFailed):
    type = "processing-location-required"
    title = "The model does not process data where the department requires"

    def __init__(self, model: str, required: str, processes_in: str | None) -> None:
        where = f"in {processes_in}" if processes_in else "anywhere (no fixed country)"
        super().__init__(
            f"Your department requires processing in {required} (require_processing_in); {model} processes "
            f"{where}. Choose a model that processes in {required}, or model auto.",
            field="model",
            rule="require_processing_in",
            required=required,
            model=model,
            processes_in=processes_in,
        )
        self.reason = f"it processes {where} and the department requires {required}"


def serves(model: ModelProvider, required: str | None) -> bool:
    """Whether the model may serve a department requiring ``required`` (None: any model may)."""
    return required is None or model.processing_country == required


def check(model: ModelProvider, required: str | None) -> None:
    """422 naming the rule when a department requiring a country names a model processing elsewhere."""
    if not serves(model, required):
        assert required is not None
        name = f"{model.provider_name}/{model.model_name}"
        raise ProcessingLocationRequired(name, required, model.processing_country)


def check_placement(country: str | None, configuration: dict[str, Any]) -> None:
    """A deployment that routes prompts across regions cannot claim one country (422)."""
    _, kind = placement(configuration)
    if country is not None and kind is not None and kind.startswith(ROUTED_ANYWHERE):
        raise ValidationFailed(
            f"A {kind} deployment may process prompts outside one country; its processing_country must be "
            "null (use a Standard deployment in a region of the country)",
            field="processing_country",
        )


def country_of_region(region: str | None) -> str | None:
    """The country of a provider's region name (``Australia East``, ``australiaeast``), if known."""
    if not region:
        return None
    return AZURE_REGIONS.get(re.sub(r"[^a-z0-9]", "", region.lower()))


def placement(configuration: dict[str, Any]) -> tuple[str | None, str | None]:
    """(region, deployment type) a model's configuration records, e.g. (``australiaeast``, ``Standard``)."""
    region, kind = configuration.get("region"), configuration.get("deployment_type")
    return (region if isinstance(region, str) else None, kind if isinstance(kind, str) else None)

"""What the ``azure-foundry`` adapter sends for FLUX on Azure AI Foundry: the route and the body per family.

* **flux-2** (FLUX.2-pro, FLUX.2-flex) — Black Forest Labs' own route on the Foundry resource:
  ``POST {endpoint}/providers/blackforestlabs/v1/<model path>?api-version=preview`` where the model's
  ``api_endpoint`` is the resource (``https://<resource>.services.ai.azure.com``) and the model path is
  ``configuration.model_path`` or the model's name in lower case with dots as hyphens (``FLUX.2-pro`` ->
  ``flux-2-pro``). The body: ``model`` (``configuration.deployment``, else the model's name), ``prompt``,
  ``width``/``height`` (multiples of 16, 64-2048; ``auto`` is 1024x1024), ``seed`` when asked,
  ``output_format`` (``png`` unless ``configuration.output_format`` is ``jpeg``), and from the configuration
  ``safety_tolerance`` (0 strictest - 6) and, for flex, ``guidance`` (1.5-10) and ``steps`` (1-50).
* **flux-kontext** (FLUX.1-Kontext-pro) — Foundry's OpenAI-compatible images route:
  ``POST {endpoint}/openai/deployments/<deployment>/images/generations?api-version=preview`` with
  ``prompt``, ``n`` (1) and ``size``. That route has no seed: a seed is not sent.

Neither takes a negative prompt; a request with one is refused before any call (and at admission).
"""

from __future__ import annotations

from dataclasses import dataclass

from donatello.providers.contract import ImageRequest, ProviderTarget
from donatello.providers.errors import ProviderMisconfigured, ProviderRejected
from donatello.providers.families import FLUX_2, FLUX_KONTEXT, Family, family_of

DEFAULT_API_VERSION = "preview"
AUTO_SIZE = "1024x1024"
OUTPUT_FORMATS = ("png", "jpeg")
#: configuration key -> (smallest, largest) of the FLUX.2 tuning the BFL route takes
_TUNING = {"safety_tolerance": (0, 6), "guidance": (1.5, 10), "steps": (1, 50)}


@dataclass(frozen=True)
class Route:
    url: str
    params: dict[str, str]


def family(target: ProviderTarget) -> Family:
    found = family_of(target.provider, target.configuration)
    if found not in (FLUX_2, FLUX_KONTEXT):
        named = target.configuration.get("family")
        raise ProviderMisconfigured(f"configuration.family {named!r} is not one this adapter speaks")
    return found


def route(target: ProviderTarget) -> Route:
    config = target.configuration
    endpoint = target.endpoint.rstrip("/")
    params = {"api-version": str(config.get("api_version") or DEFAULT_API_VERSION)}
    if family(target) is FLUX_KONTEXT:
        return Route(f"{endpoint}/openai/deployments/{deployment(target)}/images/generations", params)
    if "/providers/blackforestlabs/" in endpoint:  # the model's full URL was configured
        return Route(endpoint, params)
    path = config.get("model_path") or target.model.lower().replace(".", "-")
    return Route(f"{endpoint}/providers/blackforestlabs/v1/{path}", params)


def deployment(target: ProviderTarget) -> str:
    return str(target.configuration.get("deployment") or target.model)


def body(target: ProviderTarget, request: ImageRequest) -> dict[str, object]:
    """The JSON body of one call (one image); refuses, before any call, what the model cannot do."""
    kind = family(target)
    if request.negative_prompt:
        raise ProviderRejected(f"{kind.name} takes no negative prompt")
    if request.size not in kind.sizes and not (kind.free_sizes and kind.free_sizes.allows(request.size)):
        raise ProviderRejected(f"{kind.name} does not take the size {request.size}")
    if kind is FLUX_KONTEXT:
        return {"prompt": request.prompt, "n": 1, "size": request.size}
    width, _, height = (AUTO_SIZE if request.size == "auto" else request.size).partition("x")
    sent: dict[str, object] = {
        "model": deployment(target),
        "prompt": request.prompt,
        "width": int(width),
        "height": int(height),
        "output_format": _output_format(target.configuration),
    }
    if request.seed is not None:
        sent["seed"] = request.seed
    sent.update(_tuning(target.configuration))
    return sent


def _output_format(config: dict[str, object]) -> str:
    chosen = config.get("output_format", "png")
    if chosen not in OUTPUT_FORMATS:
        raise ProviderMisconfigured(f"configuration.output_format must be one of {', '.join(OUTPUT_FORMATS)}")
    return str(chosen)


def _tuning(config: dict[str, object]) -> dict[str, object]:
    tuned: dict[str, object] = {}
    for key, (smallest, largest) in _TUNING.items():
        value = config.get(key)
        if value is None:
            continue
        kinds = (int, float) if key == "guidance" else (int,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ProviderMisconfigured(f"configuration.{key} must be a number from {smallest} to {largest}")
        if not smallest <= value <= largest:
            raise ProviderMisconfigured(f"configuration.{key} must be from {smallest} to {largest}")
        tuned[key] = value
    return tuned

"""What the ``azure-openai`` adapter sends: the URL (deployments path or v1 path) and the body per family.

Two URL shapes reach the same images API:

* **deployments** (the model's ``api_endpoint`` is the deployment URL,
  ``https://<resource>.openai.azure.com/openai/deployments/<deployment>``):
  ``POST {endpoint}/images/generations?api-version=<api_version>`` (default ``2025-04-01-preview``,
  the first version that knows the gpt-image family);
* **v1** (``https://<resource>.openai.azure.com/openai/v1``): ``POST {endpoint}/images/generations``
  with no ``api-version`` and the deployment named in the body as ``model``.

The shape follows ``configuration.api_style`` (``deployments`` or ``v1``) or else the endpoint itself.
In v1 the deployment is ``configuration.deployment``, else the model's name.

The body follows the model's family (:mod:`donatello.providers.families`):

* **gpt-image** — ``prompt``, ``n`` (up to 10 in one call), ``size``, ``quality`` (``low|medium|high|
  auto``; the public ``standard``/``hd`` mean ``medium``/``high``), ``output_format`` (``png`` unless
  ``configuration.output_format`` says ``jpeg``/``webp``, then ``output_compression`` 0-100 from
  ``configuration.output_compression``), ``background`` and ``moderation`` when configured, ``user``.
  Never ``response_format`` or ``style``: the family refuses them (``unknown_parameter``).
* **dall-e-3** — ``prompt``, ``n=1``, ``size``, ``quality`` (``standard|hd``), ``style``,
  ``response_format`` (``configuration.response_format``: ``b64_json`` default, ``url``, or null to
  omit it), ``user``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from donatello.providers.contract import ImageRequest, ProviderTarget
from donatello.providers.errors import ProviderMisconfigured, ProviderRejected
from donatello.providers.families import DALL_E_3, GPT_IMAGE, Family, family_of

DEFAULT_API_VERSION = "2025-04-01-preview"
API_STYLES = ("deployments", "v1")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATION_LEVELS = ("auto", "low")
RESPONSE_FORMATS = ("b64_json", "url")


@dataclass(frozen=True)
class Route:
    url: str
    params: dict[str, str]
    model: str | None  # the deployment named in the body (v1 path only)


def family(target: ProviderTarget) -> Family:
    found = family_of(target.provider, target.configuration)
    if found not in (GPT_IMAGE, DALL_E_3):
        named = target.configuration.get("family")
        raise ProviderMisconfigured(f"configuration.family {named!r} is not one this adapter speaks")
    return found


def route(target: ProviderTarget) -> Route:
    config = target.configuration
    endpoint = target.endpoint.rstrip("/")
    style = config.get("api_style") or ("v1" if _is_v1(endpoint) else "deployments")
    if style not in API_STYLES:
        raise ProviderMisconfigured(f"configuration.api_style must be one of {', '.join(API_STYLES)}")
    if style == "v1":
        base = endpoint if _is_v1(endpoint) else f"{endpoint}/openai/v1"
        deployment = config.get("deployment") or target.model
        return Route(f"{base}/images/generations", {}, str(deployment))
    version = config.get("api_version") or DEFAULT_API_VERSION
    return Route(f"{endpoint}/images/generations", {"api-version": str(version)}, None)


def body(target: ProviderTarget, request: ImageRequest, count: int, model: str | None) -> dict[str, object]:
    """The JSON body of one call for ``count`` images; refuses, before any call, what the family cannot do."""
    kind = family(target)
    quality = kind.quality(request.quality)
    if request.size not in kind.sizes:
        raise ProviderRejected(f"{kind.name} offers sizes {', '.join(kind.sizes)}, not {request.size}")
    if quality not in kind.qualities:
        raise ProviderRejected(f"{kind.name} offers qualities {', '.join(kind.qualities)}, not {quality}")
    sent: dict[str, object] = {"prompt": prompt(request), "n": count, "size": request.size}
    sent["quality"] = quality
    if model is not None:
        sent["model"] = model
    if kind is GPT_IMAGE:
        sent.update(_gpt_image_options(target.configuration))
    else:
        if request.style:
            sent["style"] = request.style
        config = {"response_format": "b64_json", **target.configuration}
        if config["response_format"]:
            sent["response_format"] = _one_of(config, "response_format", RESPONSE_FORMATS)
    if request.end_user:
        sent["user"] = request.end_user
    return sent


def prompt(request: ImageRequest) -> str:
    # The images API has no negative prompt; say it in words.
    if request.negative_prompt:
        return f"{request.prompt}\n\nAvoid: {request.negative_prompt}"
    return request.prompt


def _gpt_image_options(config: dict[str, object]) -> dict[str, object]:
    options: dict[str, object] = {"output_format": "png"}
    if config.get("output_format") is not None:
        options["output_format"] = _one_of(config, "output_format", OUTPUT_FORMATS)
    if options["output_format"] != "png" and config.get("output_compression") is not None:
        compression = config["output_compression"]
        if not isinstance(compression, int) or isinstance(compression, bool) or not 0 <= compression <= 100:
            raise ProviderMisconfigured("configuration.output_compression must be an integer from 0 to 100")
        options["output_compression"] = compression
    for key, allowed in (("background", BACKGROUNDS), ("moderation", MODERATION_LEVELS)):
        if config.get(key) is not None:
            options[key] = _one_of(config, key, allowed)
    return options


def _one_of(config: dict[str, object], key: str, allowed: tuple[str, ...]) -> str:
    value = config.get(key)
    if value not in allowed:
        raise ProviderMisconfigured(f"configuration.{key} must be one of {', '.join(allowed)}")
    return str(value)


def _is_v1(endpoint: str) -> bool:
    return urlsplit(endpoint).path.rstrip("/").endswith("/openai/v1")

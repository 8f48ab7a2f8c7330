"""What the ``aws-bedrock`` adapter sends: InvokeModel's URL and the model's native body, per family.

``POST {api_endpoint}/model/{modelId}/invoke`` where ``api_endpoint`` is the regional runtime
(``https://bedrock-runtime.<region>.amazonaws.com``) and ``modelId`` is ``configuration.model_id``
(``amazon.nova-canvas-v1:0``, ``stability.sd3-5-large-v1:0``, ``stability.stable-image-core-v1:1`` —
catalogue names cannot hold the colon, so the id lives in the configuration). The region signed for is
``configuration.region``, else the endpoint's host says it.

* **nova-canvas** — ``taskType: TEXT_IMAGE``; ``textToImageParams.text`` (1-1024 characters),
  ``negativeText`` (the request's negative prompt, natively), ``style`` when configured;
  ``imageGenerationConfig``: ``numberOfImages`` (1-5), ``width``/``height`` from the size, ``quality``
  (``standard`` or ``premium``), ``seed`` (0-858,993,459), ``cfgScale`` when configured (1.1-10).
* **stability** — ``prompt``, ``negative_prompt``, ``seed`` natively, ``aspect_ratio`` from the size,
  ``output_format`` ``png``; SD3.5 Large also takes ``mode: text-to-image`` (sent for ``sd3`` model ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from donatello.providers.contract import ImageRequest, ProviderTarget
from donatello.providers.errors import ProviderMisconfigured, ProviderRejected
from donatello.providers.families import ASPECT_RATIOS, NOVA_CANVAS, STABILITY, Family, family_of

NOVA_MAX_PROMPT = 1024
NOVA_STYLES = (
    "3D_ANIMATED_FAMILY_FILM",
    "DESIGN_SKETCH",
    "FLAT_VECTOR_ILLUSTRATION",
    "GRAPHIC_NOVEL_ILLUSTRATION",
    "MAXIMALISM",
    "MIDCENTURY_RETRO",
    "PHOTOREALISM",
    "SOFT_DIGITAL_PAINTING",
)
_RUNTIME_HOST = re.compile(r"^bedrock-runtime(?:-fips)?\.([a-z]{2}(?:-gov)?-[a-z]+-[0-9])\.amazonaws\.com$")
_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-[0-9]$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,200}$")


@dataclass(frozen=True)
class Route:
    url: str
    region: str
    model_id: str


def family(target: ProviderTarget) -> Family:
    found = family_of(target.provider, target.configuration)
    if found not in (NOVA_CANVAS, STABILITY):
        raise ProviderMisconfigured(
            "configuration.model_id must name a Nova Canvas or Stability model (or configuration.family "
            "say nova-canvas or stability)"
        )
    return found


def route(target: ProviderTarget) -> Route:
    model_id = target.configuration.get("model_id")
    if not isinstance(model_id, str) or not _MODEL_ID.match(model_id):
        raise ProviderMisconfigured(
            "configuration.model_id must be a Bedrock model id, e.g. amazon.nova-canvas-v1:0"
        )
    endpoint = target.endpoint.rstrip("/")
    region = target.configuration.get("region")
    if region is None and (named := _RUNTIME_HOST.match(urlsplit(endpoint).hostname or "")):
        region = named.group(1)
    if not isinstance(region, str) or not _REGION.match(region):
        raise ProviderMisconfigured("configuration.region must be an AWS region such as us-east-1")
    return Route(f"{endpoint}/model/{quote(model_id, safe='')}/invoke", region, model_id)


def body(target: ProviderTarget, request: ImageRequest, count: int) -> dict[str, object]:
    """The native body of one call for ``count`` images; what the model cannot do is refused before."""
    kind = family(target)
    if request.size not in kind.sizes:
        raise ProviderRejected(f"{kind.name} offers sizes {', '.join(kind.sizes)}, not {request.size}")
    if (refused := kind.refuses(request.negative_prompt, request.seed)) is not None:
        raise ProviderRejected(f"{kind.name} {refused[1]}")
    quality = kind.quality(request.quality)
    if quality not in kind.qualities:
        raise ProviderRejected(f"{kind.name} offers qualities {', '.join(kind.qualities)}, not {quality}")
    if kind is NOVA_CANVAS:
        return _nova(target.configuration, request, count, quality)
    return _stability(target.configuration, request)


def _nova(config: dict[str, object], request: ImageRequest, count: int, quality: str) -> dict[str, object]:
    if len(request.prompt) > NOVA_MAX_PROMPT:
        raise ProviderRejected(f"Nova Canvas takes prompts of up to {NOVA_MAX_PROMPT} characters")
    if request.negative_prompt and len(request.negative_prompt) > NOVA_MAX_PROMPT:
        raise ProviderRejected(f"Nova Canvas takes negative prompts of up to {NOVA_MAX_PROMPT} characters")
    width, height = (int(part) for part in request.size.split("x"))
    text: dict[str, object] = {"text": request.prompt}
    if request.negative_prompt:
        text["negativeText"] = request.negative_prompt
    if config.get("style") is not None:
        if config["style"] not in NOVA_STYLES:
            raise ProviderMisconfigured(f"configuration.style must be one of {', '.join(NOVA_STYLES)}")
        text["style"] = config["style"]
    generation: dict[str, object] = {
        "numberOfImages": count,
        "width": width,
        "height": height,
        "quality": quality,
    }
    if request.seed is not None:
        generation["seed"] = request.seed
    if (scale := config.get("cfg_scale")) is not None:
        if not isinstance(scale, int | float) or isinstance(scale, bool) or not 1.1 <= scale <= 10:
            raise ProviderMisconfigured("configuration.cfg_scale must be a number from 1.1 to 10")
        generation["cfgScale"] = scale
    return {"taskType": "TEXT_IMAGE", "textToImageParams": text, "imageGenerationConfig": generation}


def _stability(config: dict[str, object], request: ImageRequest) -> dict[str, object]:
    sent: dict[str, object] = {
        "prompt": request.prompt,
        "aspect_ratio": ASPECT_RATIOS[request.size],
        "output_format": "png",
    }
    if "sd3" in str(config.get("model_id", "")):
        sent["mode"] = "text-to-image"
    if request.negative_prompt:
        sent["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        sent["seed"] = request.seed
    return sent

"""Model families: what each kind of image model accepts, and what it meters.

A model row names its family in ``configuration.family`` (``gpt-image`` for gpt-image-1-mini, 1.5 and 2;
``dall-e-3`` for deployments that still answer; ``flux-2`` for FLUX.2-pro/flex and ``flux-kontext`` for
FLUX.1-Kontext-pro on Azure AI Foundry); without one the provider decides (``local`` renders with Pillow,
``azure-openai`` and ``openai`` default to ``gpt-image``, ``azure-foundry`` to ``flux-2``, ``google-vertex``
to ``gemini-image``, and ``aws-bedrock`` reads it from ``configuration.model_id``: ``amazon.nova-canvas-*``
is ``nova-canvas``, ``stability.*`` is ``stability``). The family decides
the request body an adapter sends, the sizes and qualities the public API may ask of the model, how many
images one call may return, and — for token-metered families — the documented output tokens per image,
from which the most a request can cost (its budget hold) is worked out.

The public API's older quality words stay valid: ``standard``/``hd`` mean ``medium``/``high`` on
gpt-image (``quality_aliases``). A model's configuration may narrow its family's lists (``sizes``,
``qualities``), never widen them. A family with ``free_sizes`` (FLUX.2) also takes any ``WIDTHxHEIGHT``
within its bounds besides the sizes it lists; one without ``negative_prompt`` has no way to say what to
avoid (not even in words), so a request with a negative prompt is refused rather than sent without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class SizeBounds:
    """Sizes a model takes freely: both sides a multiple of ``step`` from ``smallest`` to ``largest``."""

    step: int
    smallest: int
    largest: int

    def allows(self, size: object) -> bool:
        width, _, height = str(size).partition("x")
        if not (width.isdigit() and height.isdigit()):
            return False
        sides = (int(width), int(height))
        return all(side % self.step == 0 and self.smallest <= side <= self.largest for side in sides)

    def describe(self) -> str:
        return f"any WIDTHxHEIGHT in multiples of {self.step} from {self.smallest} to {self.largest}"


class Sizes(tuple[str, ...]):
    """The sizes a model lists and, for a family with free sizes, any size within its bounds: ``in`` asks
    both; iterating gives the listed ones (what a form offers)."""

    bounds: SizeBounds | None

    def __new__(cls, listed: tuple[str, ...], bounds: SizeBounds | None = None) -> Sizes:
        made = super().__new__(cls, listed)
        made.bounds = bounds
        return made

    def __contains__(self, size: object) -> bool:
        return super().__contains__(size) or (self.bounds is not None and self.bounds.allows(size))


@dataclass(frozen=True)
class Family:
    name: str
    sizes: tuple[str, ...]
    qualities: tuple[str, ...]
    max_images_per_call: int
    #: a word the public API accepts -> the family's own word for it
    quality_aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: (size, quality) -> output image tokens one image is documented to take; empty when not token-metered
    output_tokens: Mapping[tuple[str, str], int] = field(default_factory=lambda: MappingProxyType({}))
    #: False where the vendor has no negative prompt and the adapter does not word one in: refused (422)
    takes_negative_prompt: bool = True
    #: the largest seed the vendor takes, when smaller than the public API's (2**31 - 1)
    max_seed: int | None = None
    #: sizes taken besides ``sizes`` (any within these bounds); None: only the listed ones
    free_sizes: SizeBounds | None = None

    def quality(self, requested: str) -> str:
        """The family's word for a requested quality (``hd`` -> ``high`` on gpt-image)."""
        return self.quality_aliases.get(requested, requested)

    def accepts_quality(self, requested: str) -> bool:
        return self.quality(requested) in self.qualities

    @property
    def token_metered(self) -> bool:
        return bool(self.output_tokens)

    def refuses(self, negative_prompt: str | None, seed: int | None) -> tuple[str, str] | None:
        """(option, why) of the first request option the vendor cannot take, or None."""
        if negative_prompt and not self.takes_negative_prompt:
            return "negative_prompt", "takes no negative prompt; say what to avoid in the prompt itself"
        if seed is not None and self.max_seed is not None and seed > self.max_seed:
            return "seed", f"takes seeds from 0 to {self.max_seed}"
        return None


# OpenAI's image-generation guide documents gpt-image's output tokens by size and quality (the same table
# for the family's square and 3:2 sizes). ``auto`` is held at the most the other choices can take.
_GPT_IMAGE_TOKENS = {
    ("1024x1024", "low"): 272,
    ("1024x1536", "low"): 408,
    ("1536x1024", "low"): 400,
    ("1024x1024", "medium"): 1056,
    ("1024x1536", "medium"): 1584,
    ("1536x1024", "medium"): 1568,
    ("1024x1024", "high"): 4160,
    ("1024x1536", "high"): 6240,
    ("1536x1024", "high"): 6208,
}


def _with_auto(table: dict[tuple[str, str], int]) -> Mapping[tuple[str, str], int]:
    sizes = {size for size, _ in table}
    qualities = {quality for _, quality in table}
    filled = dict(table)
    for size in sizes:
        filled[(size, "auto")] = max(table[(size, q)] for q in qualities)
    for quality in (*qualities, "auto"):
        filled[("auto", quality)] = max(filled[(s, quality)] for s in sizes)
    return MappingProxyType(filled)


GPT_IMAGE = Family(
    name="gpt-image",
    sizes=("1024x1024", "1536x1024", "1024x1536", "auto"),
    qualities=("low", "medium", "high", "auto"),
    max_images_per_call=10,
    quality_aliases=MappingProxyType({"standard": "medium", "hd": "high"}),
    output_tokens=_with_auto(_GPT_IMAGE_TOKENS),
)
DALL_E_3 = Family(
    name="dall-e-3",
    sizes=("1024x1024", "1792x1024", "1024x1792"),
    qualities=("standard", "hd"),
    max_images_per_call=1,
)
# FLUX.2 on Azure AI Foundry (Black Forest Labs route): one image per call, any size in multiples of 16 up
# to 4 megapixels (2048x2048), a real seed, no negative prompt and no quality setting.
FLUX_2 = Family(
    name="flux-2",
    sizes=("1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792", "512x512", "auto"),
    qualities=("standard",),
    max_images_per_call=1,
    free_sizes=SizeBounds(step=16, smallest=64, largest=2048),
    takes_negative_prompt=False,
)
# FLUX.1-Kontext-pro through Foundry's OpenAI-compatible images route: one image per call, at most 1 MP.
FLUX_KONTEXT = Family(
    name="flux-kontext",
    sizes=("1024x1024", "512x512"),
    qualities=("standard",),
    max_images_per_call=1,
    takes_negative_prompt=False,
)
LOCAL = Family(
    name="local",
    sizes=("256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536", "auto"),
    qualities=("standard", "hd", "low", "medium", "high", "auto"),
    max_images_per_call=10,
)

#: sizes the aspect-ratio vendors (Stability, Gemini) take, as the ratio they are asked for; the vendor
#: picks the pixels at that ratio (1792x1024 is asked as the nearest ratio both offer, 16:9)
ASPECT_RATIOS: Mapping[str, str] = MappingProxyType(
    {"1024x1024": "1:1", "1536x1024": "3:2", "1024x1536": "2:3", "1792x1024": "16:9", "1024x1792": "9:16"}
)
# Amazon Nova Canvas (Bedrock): width and height of 320-4096 px in steps of 16, one to five images per
# call, quality standard or premium (the public hd/high), a native negative prompt and seed.
NOVA_CANVAS = Family(
    name="nova-canvas",
    sizes=("512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792"),
    qualities=("standard", "premium"),
    max_images_per_call=5,
    quality_aliases=MappingProxyType({"hd": "premium", "high": "premium"}),
    max_seed=858_993_459,
)
# Stability models on Bedrock (SD3.5 Large, Stable Image Core/Ultra): one image per call at an aspect
# ratio, no quality setting, a native negative prompt and seed.
STABILITY = Family(
    name="stability",
    sizes=tuple(ASPECT_RATIOS),
    qualities=("standard",),
    max_images_per_call=1,
)
# Gemini image models on Vertex AI: one image per call at an aspect ratio, metered in image tokens — the
# pricing page documents 1290 output tokens per image up to 1024x1024 px (and each ratio's equivalent).
GEMINI_IMAGE = Family(
    name="gemini-image",
    sizes=tuple(ASPECT_RATIOS),
    qualities=("standard",),
    max_images_per_call=1,
    output_tokens=MappingProxyType({(size, "standard"): 1290 for size in ASPECT_RATIOS}),
    takes_negative_prompt=False,
)

FAMILIES: Mapping[str, Family] = MappingProxyType(
    {
        f.name: f
        for f in (GPT_IMAGE, DALL_E_3, FLUX_2, FLUX_KONTEXT, LOCAL, NOVA_CANVAS, STABILITY, GEMINI_IMAGE)
    }
)
#: the family of a provider's models when their configuration names none
DEFAULT_FAMILY: Mapping[str, Family] = MappingProxyType(
    {
        "local": LOCAL,
        "azure-openai": GPT_IMAGE,
        "openai": GPT_IMAGE,
        "azure-foundry": FLUX_2,
        "google-vertex": GEMINI_IMAGE,
    }
)
#: Bedrock model ids by prefix -> their family, when the configuration names none
BEDROCK_MODEL_FAMILIES = (("amazon.nova-canvas", NOVA_CANVAS), ("stability.", STABILITY))


def family_of(provider_name: str, configuration: Mapping[str, object]) -> Family | None:
    """The model's family, or None when neither its configuration nor its provider names a known one."""
    named = configuration.get("family")
    if isinstance(named, str):
        return FAMILIES.get(named)
    model_id = configuration.get("model_id")
    if provider_name == "aws-bedrock" and isinstance(model_id, str):
        bare = model_id.split(".", 1)[1] if model_id.startswith(("us.", "eu.", "apac.")) else model_id
        return next((family for prefix, family in BEDROCK_MODEL_FAMILIES if bare.startswith(prefix)), None)
    return DEFAULT_FAMILY.get(provider_name)

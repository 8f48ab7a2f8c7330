"""A request for more images than one call of the model may return is made in parts, one call each.

``call_with_retries`` retries a failed part alone and keeps the images the other parts already returned:
every call is paid for, so none is made twice for the same images.
"""

from __future__ import annotations

from dataclasses import replace

from donatello.providers import safety
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget, TokenUsage
from donatello.providers.families import family_of


def split(target: ProviderTarget, request: ImageRequest) -> list[ImageRequest]:
    """The request as the calls the model's family allows (one part when it takes ``n`` at once)."""
    family = family_of(target.provider, target.configuration)
    per_call = family.max_images_per_call if family is not None else request.n
    if request.n <= per_call:
        return [request]
    counts = [per_call] * (request.n // per_call) + ([request.n % per_call] if request.n % per_call else [])
    return [replace(request, n=count) for count in counts]


def join(results: list[ImageResult]) -> ImageResult:
    """The parts' images in order, as one result."""
    if len(results) == 1:
        return results[0]
    summary = safety.merge_summaries(r.safety for r in results)
    return ImageResult(
        images=[image for result in results for image in result.images],
        revised_prompt=next((r.revised_prompt for r in results if r.revised_prompt), None),
        safety=summary,
        is_nsfw=any(r.is_nsfw for r in results),
        latency_ms=sum(r.latency_ms for r in results),
        usage=_usage([r.usage for r in results]),
        processed_in=next((r.processed_in for r in results if r.processed_in), None),
    )


def _usage(usages: list[TokenUsage | None]) -> TokenUsage | None:
    billed = [usage for usage in usages if usage is not None]
    if not billed or len(billed) != len(usages):  # a part without its bill: the total is unknown
        return None
    return TokenUsage(
        input_text_tokens=sum(u.input_text_tokens for u in billed),
        input_image_tokens=sum(u.input_image_tokens for u in billed),
        output_image_tokens=sum(u.output_image_tokens for u in billed),
        raw={"calls": [u.raw for u in billed]},
    )

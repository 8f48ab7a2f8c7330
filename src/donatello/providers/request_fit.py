"""What a request asks that only some models can do, decided before it is admitted.

**Free sizes.** A ``WIDTHxHEIGHT`` outside the listed sizes is taken only by models with free sizes
(FLUX.2). When ``auto`` is asked for one no active model takes at all, the request is at fault — a 422
``size-not-offered`` — not a passing outage (``no-model-available``, 503, stays for models that could
but cannot right now); a named model with free sizes refuses one outside its bounds saying what they are.

Options some vendors cannot take at all (a negative prompt on FLUX or Gemini, a seed beyond Nova
Canvas's range) are :mod:`donatello.providers.options`'s to refuse.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.errors import ValidationFailed
from donatello.models import ModelProvider
from donatello.providers import offered, repository
from donatello.providers.adapters import PROVIDER_NAMES
from donatello.providers.errors import UnsupportedOption
from donatello.providers.families import Sizes


class SizeNotOffered(ValidationFailed):
    type = "size-not-offered"
    title = "No model offers this size"

    def __init__(self, size: str) -> None:
        super().__init__(
            f"No active model takes the size {size}; choose one of the listed sizes", field="size", size=size
        )


async def refuse_free_size_not_taken(
    session: AsyncSession, requested: str, size: str, listed: Sequence[str]
) -> None:
    """A size outside the listed ones: with ``auto``, a 422 when no active model takes it; naming a model
    with free sizes that does not, a 422 ``unsupported-option`` that states its bounds. Anything else is
    left to selection, which explains what the named model offers."""
    if size in listed:
        return
    offers = [
        offer for offer in await repository.offered(session) if offer[0].provider_name in PROVIDER_NAMES
    ]
    if requested == "auto":
        if not any(size in offered.sizes(*offer) for offer in offers):
            raise SizeNotOffered(size)
        return
    named = [offer for offer in offers if requested in (_name(offer[0]), offer[0].model_name)]
    if len(named) != 1:
        return  # unknown or ambiguous: selection says which
    sizes = offered.sizes(*named[0])
    if isinstance(sizes, Sizes) and sizes.bounds is not None and size not in sizes:
        supported = [*sizes, sizes.bounds.describe()]
        raise UnsupportedOption(_name(named[0][0]), "size", size, supported)


def _name(model: ModelProvider) -> str:
    return f"{model.provider_name}/{model.model_name}"

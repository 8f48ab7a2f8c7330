"""What a request asks that only some models can do, decided before it is admitted.

**Free sizes.** A ``WIDTHxHEIGHT`` outside the listed sizes is taken only by models with free sizes
(FLUX.2). When ``auto`` is asked for one no active model takes at all, the request is at fault — a 422
``size-not-offered`` — not a passing outage (``no-model-available``, 503, stays for models that could
but cannot right now); a named model with free sizes refuses one outside its bounds saying what they are.

**Negative prompts.** Some vendors take a negative prompt natively, the images APIs take it in words
(``Avoid: ...``), and some (FLUX) have no way to say it at all (``Family.negative_prompt``). Sending such
a request without it would quietly give the person something they said they did not want, so a model that
cannot take it is not chosen for it: ``auto`` moves on to the next candidate that can, and naming such a
model is refused (422).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.errors import ValidationFailed
from donatello.models import ModelProvider
from donatello.providers import offered, repository
from donatello.providers.adapters import PROVIDER_NAMES
from donatello.providers.errors import UnsupportedOption
from donatello.providers.families import Sizes, family_of
from donatello.providers.selection import Candidate


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


class NegativePromptUnsupported(ValidationFailed):
    type = "negative-prompt-unsupported"
    title = "The model takes no negative prompt"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"{model} has no negative prompt; leave negative_prompt out or choose another model",
            field="negative_prompt",
            model=model,
        )


def takes_negative_prompt(candidate: Candidate) -> bool:
    family = family_of(candidate.provider, candidate.target.configuration)
    return family is None or family.negative_prompt


def for_negative_prompt(
    options: Sequence[Candidate], negative_prompt: str | None, *, named: bool
) -> Candidate:
    """The first candidate that can take the request's negative prompt (the first of all without one);
    a named model that cannot take it, or no candidate that can, is a 422."""
    if not negative_prompt:
        return options[0]
    first = options[0]
    if takes_negative_prompt(first):
        return first
    able = [option for option in options[1:] if takes_negative_prompt(option)]
    if named or not able:
        raise NegativePromptUnsupported(first.name)
    return dataclasses.replace(able[0], reason=f"{first.reason}; {first.name} takes no negative prompt")

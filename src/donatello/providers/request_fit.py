"""What a request asks that only some models can do, decided before it is admitted.

**Free sizes.** A ``WIDTHxHEIGHT`` outside the listed sizes is taken only by models with free sizes
(FLUX.2). When ``auto`` is asked for one no active model takes at all, the request is at fault — a 422
``size-not-offered`` — not a passing outage (``no-model-available``, 503, stays for models that could
but cannot right now).

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
from donatello.providers import offered, repository
from donatello.providers.adapters import PROVIDER_NAMES
from donatello.providers.families import family_of
from donatello.providers.selection import Candidate


class SizeNotOffered(ValidationFailed):
    type = "size-not-offered"
    title = "No model offers this size"

    def __init__(self, size: str) -> None:
        super().__init__(
            f"No active model takes the size {size}; choose one of the listed sizes", field="size", size=size
        )


async def refuse_size_no_model_takes(
    session: AsyncSession, requested: str, size: str, listed: Sequence[str]
) -> None:
    """With ``model: "auto"``, a size outside the listed ones that no active model takes is a 422. A listed
    size, or a named model, is left to selection, which explains what that model offers."""
    if requested != "auto" or size in listed:
        return
    offers = [
        offer for offer in await repository.offered(session) if offer[0].provider_name in PROVIDER_NAMES
    ]
    if not any(size in offered.sizes(*offer) for offer in offers):
        raise SizeNotOffered(size)


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

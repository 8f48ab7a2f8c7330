"""Which model may be asked a request that has a negative prompt.

Some vendors take a negative prompt natively, the images APIs take it in words (``Avoid: ...``), and some
(FLUX) have no way to say it at all (``Family.negative_prompt``). Sending such a request without it would
quietly give the person something they said they did not want, so a model that cannot take it is not
chosen for it: ``auto`` moves on to the next candidate that can, and naming such a model is refused (422).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from donatello.core.errors import ValidationFailed
from donatello.providers.families import family_of
from donatello.providers.selection import Candidate


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

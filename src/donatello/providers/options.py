"""Request options a model's vendor cannot take (``Family.refuses``): a negative prompt where it has none
(Gemini), a seed beyond its range (Nova Canvas: 0-858,993,459). Refused, never silently dropped.

Admission refuses a request naming such a model (422 ``unsupported-option``); for ``auto`` it takes the
first candidate that can honour the request. An adapter checks again before any call, since a fallback
chosen by the worker may be such a model: it is then passed over (``ProviderRejected``).
"""

from __future__ import annotations

from collections.abc import Sequence

from donatello.providers.errors import OptionNotOffered
from donatello.providers.families import family_of
from donatello.providers.selection import Candidate


def first_accepting(
    offered: Sequence[Candidate], negative_prompt: str | None, seed: int | None, *, named: bool
) -> Candidate:
    """The first candidate that takes the request's options; a named model that cannot is refused (422),
    and so is ``auto`` when no candidate can."""
    for candidate in offered if not named else offered[:1]:
        if _refused(candidate, negative_prompt, seed) is None:
            return candidate
    option, why = _refused(offered[0], negative_prompt, seed) or ("options", "")
    if named:
        raise OptionNotOffered(f"{offered[0].name} {why}", option)
    raise OptionNotOffered(f"No available model takes this {option}: {offered[0].name} {why}", option)


def _refused(candidate: Candidate, negative_prompt: str | None, seed: int | None) -> tuple[str, str] | None:
    family = family_of(candidate.provider, candidate.target.configuration)
    return family.refuses(negative_prompt, seed) if family is not None else None

"""Which version of a model's price is in effect at an instant.

A version is in effect from its ``effective_from`` until the next version's (its ``effective_to``); the
newest version that began at or before the instant prices it. An instant before a model's first version
(a quote replayed for a moment before the model existed) is priced by that first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from donatello.models import ModelPrice


def in_effect(versions: Sequence[ModelPrice], at: datetime) -> ModelPrice | None:
    """The version pricing ``at``, of ``versions`` ordered oldest first; None only when there are none."""
    current = versions[0] if versions else None
    for version in versions:
        if version.effective_from > at:
            break
        current = version
    return current


def effective_to(versions: Sequence[ModelPrice], index: int) -> datetime | None:
    """When ``versions[index]`` stops being in effect: the next version's start (None: open-ended)."""
    return versions[index + 1].effective_from if index + 1 < len(versions) else None

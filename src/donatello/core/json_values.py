"""Caps on free-form JSON values that clients store (preferences, settings, provider configuration).

A value is measured as compact UTF-8 JSON; over its cap it is a 422 naming the field. The caps are
documented in docs/api.md ("What the API refuses").
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, Field

PREFERENCE_MAX_BYTES = 16 * 1024
SETTINGS_MAX_BYTES = 64 * 1024


def _at_most(limit: int) -> AfterValidator:
    def check(value: Any) -> Any:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace"))
        if size > limit:
            raise ValueError(f"is {size} bytes as JSON; the limit is {limit}")
        return value

    return AfterValidator(check)


PreferenceValue = Annotated[
    Any,
    Field(description=f"Any JSON value, at most {PREFERENCE_MAX_BYTES} bytes"),
    _at_most(PREFERENCE_MAX_BYTES),
]
Settings = Annotated[
    dict[str, Any],
    Field(description=f"A JSON object, at most {SETTINGS_MAX_BYTES} bytes"),
    _at_most(SETTINGS_MAX_BYTES),
]

"""A safety refusal as the generation keeps it: where the provider refused and why, never the prompt.

Kept in the generation's ``metadata`` as ``content_filter`` (``{"stage": "prompt"|"output",
"categories": [...]}``), shown by ``GET /v1/generations/{id}`` and the web page, and carried by the
``generation.failed`` audit event.
"""

from __future__ import annotations

from typing import Any

from donatello.providers import ContentFiltered

STAGES = ("prompt", "output")


def content_filter(refusal: ContentFiltered) -> dict[str, Any]:
    """Stage and categories; the categories the adapter named, else those its category map filtered."""
    stage = refusal.stage if refusal.stage in STAGES else "prompt"
    named = refusal.categories or _filtered_categories(refusal.safety)
    return {"stage": stage, "categories": sorted({str(category)[:50] for category in named if category})}


def _filtered_categories(safety: dict[str, object] | None) -> list[str]:
    """``{"categories": {"prompt.violence": {"filtered": true, ...}}}`` -> ``["violence"]``."""
    found = safety.get("categories") if safety else None
    if not isinstance(found, dict):
        return []
    return [
        str(key).rsplit(".", 1)[-1]
        for key, result in found.items()
        if isinstance(result, dict) and result.get("filtered")
    ]


def refusal_message(refusal: ContentFiltered) -> str:
    """The failure's reason in words (the provider's own message may quote policy text, not the prompt)."""
    found = content_filter(refusal)
    what = "the prompt" if found["stage"] == "prompt" else "the generated image"
    because = f" ({', '.join(found['categories'])})" if found["categories"] else ""
    return f"refused by the provider's content filter: {what} was blocked{because}"

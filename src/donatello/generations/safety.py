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
    stage = refusal.stage if refusal.stage in STAGES else "prompt"
    categories = sorted({str(category)[:50] for category in refusal.categories if category})
    return {"stage": stage, "categories": categories}


def refusal_message(refusal: ContentFiltered) -> str:
    """The failure's reason in words (the provider's own message may quote policy text, not the prompt)."""
    found = content_filter(refusal)
    what = "the prompt" if found["stage"] == "prompt" else "the generated image"
    because = f" ({', '.join(found['categories'])})" if found["categories"] else ""
    return f"refused by the provider's content filter: {what} was blocked{because}"

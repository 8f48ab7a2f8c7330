"""Content-safety results as the product keeps them, whatever the provider.

A provider reports per-category results (``{"violence": {"severity": "low", "filtered": false}}``); they
are kept as ``{"<where>.<category>": {"severity": ..., "filtered": ...}}`` (``where`` is ``prompt`` or
``image``) with the worst severity seen (``max_severity``) and whether that makes the image NSFW.
"""

from __future__ import annotations

from collections.abc import Iterable

#: a category at or above one of these severities (or filtered outright) makes the image NSFW
NSFW_CATEGORIES = ("sexual", "violence", "hate", "self_harm")
SEVERITIES = ("safe", "low", "medium", "high")
NSFW_SEVERITY = "medium"


def results_of(results: object, where: str) -> dict[str, object]:
    """Category results as ``{"<where>.<category>": {"severity": ..., "filtered": ...}}``."""
    if not isinstance(results, dict):
        return {}
    found: dict[str, object] = {}
    for category, result in results.items():
        if isinstance(result, dict) and ("severity" in result or "filtered" in result):
            severity = result.get("severity")
            found[f"{where}.{category}"] = {
                "severity": severity if isinstance(severity, str) and severity else "safe",
                "filtered": bool(result.get("filtered", False)),
            }
    return found


def filtered_categories(results: object) -> list[str]:
    """The categories a provider's results say it filtered (``{"violence": {"filtered": true}}``)."""
    if not isinstance(results, dict):
        return []
    return sorted(
        str(category)
        for category, result in results.items()
        if isinstance(result, dict) and result.get("filtered") is True
    )


def merge(parts: Iterable[dict[str, object]]) -> dict[str, object] | None:
    """All category results, the worst severity seen (``max_severity``) and whether that is NSFW."""
    categories: dict[str, object] = {}
    for part in parts:
        for key, result in part.items():
            previous = categories.get(key)
            if previous is None or _rank(result) > _rank(previous):
                categories[key] = result
    if not categories:
        return None
    worst = max((_rank(result) for result in categories.values()), default=0)
    nsfw = any(
        key.split(".", 1)[-1] in NSFW_CATEGORIES
        and (_rank(result) >= SEVERITIES.index(NSFW_SEVERITY) or _filtered(result))
        for key, result in categories.items()
    )
    return {"categories": categories, "max_severity": SEVERITIES[worst], "is_nsfw": nsfw}


def merge_summaries(summaries: Iterable[dict[str, object] | None]) -> dict[str, object] | None:
    """One summary of several calls' summaries (a request split into calls)."""
    parts = [s["categories"] for s in summaries if s is not None and isinstance(s.get("categories"), dict)]
    return merge(parts)  # type: ignore[arg-type]


def _rank(result: object) -> int:
    severity = result.get("severity") if isinstance(result, dict) else None
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def _filtered(result: object) -> bool:
    return bool(isinstance(result, dict) and result.get("filtered"))

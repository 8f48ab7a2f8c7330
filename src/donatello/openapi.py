"""OpenAPI helpers: endpoints list the domain errors they can raise, shown as problem+json responses."""

from __future__ import annotations

from typing import Any

from donatello.core.errors import DomainError


def problem_responses(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = responses.setdefault(
            error.status, {"description": "", "content": {"application/problem+json": {}}}
        )
        entry["description"] = "; ".join(filter(None, [entry["description"], error.title]))
    return responses

"""The OpenAPI document says what the API answers.

Endpoints list the domain errors they can raise (``problem_responses``); ``complete`` then adds what every
operation of a kind answers, read from the routes themselves, so no endpoint has to repeat it:

* ``x-permissions``: the permissions the operation requires (any one of them; an empty list means any
  signed-in user), with its 401, its 429 (failed authentication is throttled per address) and, where a
  permission is needed, its 403; ``x-api-keys: false`` where API keys are refused;
* 422 (invalid parameters or body, an undeclared query parameter, text PostgreSQL cannot store) as
  ``application/problem+json`` — every operation refuses undeclared query parameters;
* 400 (a body that cannot be decoded) and 413 (a body over the size cap) where there is a request body,
  and 415 where that body is JSON but sent as another type (or none);
* 404 where the path names a resource;
* a redirect has no body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from donatello.auth.dependencies import Require
from donatello.core.errors import DomainError

PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_VALIDATION_REF = {"$ref": "#/components/schemas/ValidationProblem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; errors add members of their own (e.g. budget figures).",
    "type": "object",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}
VALIDATION_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "allOf": [_PROBLEM_REF],
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "description": "e.g. body.name or query.limit"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["field", "message", "code"],
            },
        }
    },
}


def problem_responses(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = responses.setdefault(
            error.status, {"description": "", "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}
        )
        entry["description"] = "; ".join(filter(None, [entry["description"], error.title]))
    return responses


def requirement_of(dependant: Any) -> tuple[str, ...] | None:
    """The permissions a route's ``Require`` dependency names (empty: any signed-in user), or None for a
    public route."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        if isinstance(current.call, Require):
            return tuple(permission.value for permission in current.call.permissions)
        pending.extend(current.dependencies)
    return None


def refuses_api_keys(dependant: Any) -> bool:
    """Whether the route's ``Require`` dependency refuses API keys (``x-api-keys: false``)."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        if isinstance(current.call, Require):
            return not current.call.api_keys
        pending.extend(current.dependencies)
    return False


def complete(document: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Add to ``document`` (FastAPI's) what every operation of a kind answers; see the module docstring."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for route in routes:
        path = getattr(route, "path_format", None)
        if path not in document.get("paths", {}) or not hasattr(route, "dependant"):
            continue
        requirement = requirement_of(route.dependant)
        for method in route.methods or ():
            operation = document["paths"][path].get(method.lower())
            if operation is not None:
                _complete_operation(operation, requirement)
                if refuses_api_keys(route.dependant):
                    operation["x-api-keys"] = False
                    _add(operation["responses"], "403", "API keys are refused (api-key-not-allowed)")
    return document


def _complete_operation(operation: dict[str, Any], requirement: tuple[str, ...] | None) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in responses.items():
        content = response.get("content", {})
        if PROBLEM_JSON in content and not content[PROBLEM_JSON].get("schema"):
            content[PROBLEM_JSON]["schema"] = _PROBLEM_REF
        if status.startswith("3"):
            response.pop("content", None)  # a redirect has no body
            response.setdefault("headers", {})["Location"] = {"schema": {"type": "string"}}
    if requirement is not None:
        operation["x-permissions"] = list(requirement)
        _add(responses, "401", "Missing, invalid or expired credentials")
        _add(responses, "429", "Too many requests (e.g. failed authentication from this address)")
        if requirement:
            _add(responses, "403", f"Needs the permission {' or '.join(requirement)}")
    responses["422"] = {
        "description": "Invalid parameters or body, an undeclared query parameter, or text that cannot "
        "be stored (NUL characters, unpaired surrogates)",
        "content": {PROBLEM_JSON: {"schema": _VALIDATION_REF}},
    }
    if "requestBody" in operation:
        _add(responses, "400", "The body could not be decoded")
        _add(responses, "413", "The body is larger than the 1 MiB cap")
        if "application/json" in operation["requestBody"].get("content", {}):
            _add(responses, "415", "The body is not sent as application/json")
    parameters = operation.get("parameters", [])
    if any(parameter.get("in") == "path" for parameter in parameters):
        _add(responses, "404", "Not found (another organization's resources are not found either)")
    if any(parameter["name"] == "organization_id" and parameter["in"] == "query" for parameter in parameters):
        _add(responses, "404", "The organization named by organization_id is not found (or not yours)")


def _add(responses: dict[str, Any], status: str, description: str) -> None:
    entry = responses.setdefault(status, {"description": description})
    entry.setdefault("content", {}).setdefault(PROBLEM_JSON, {}).setdefault("schema", _PROBLEM_REF)

"""The protocol around the resources (RFC 7644): reading payloads, filters and attribute selections
with scim2-models, pagination, and turning its validation errors into SCIM errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidFilterException,
    InvalidValueException,
    ListResponse,
    ResponseParameters,
    SCIMException,
    ScimFilter,
)
from scim2_models import SearchRequest as ScimSearchRequest
from scim2_models.path import CompareOperator, Comparison

from donatello.provisioning.resources import MAX_RESULTS, PROVIDER


def parse(model: Any, payload: Any, context: Context) -> Any:
    """Validate ``payload`` as ``model`` in ``context`` (creation, replacement, PATCH request)."""
    if not isinstance(payload, dict):
        raise InvalidValueException(detail="The body must be a JSON object")
    try:
        with PROVIDER:
            return model.model_validate(payload, scim_ctx=context)
    except SCIMException:
        raise
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_errors(exc)[0]) from None


def within_lengths(resource: Any, limits: dict[str, int]) -> None:
    """Every kept text fits its column: a longer one is ``invalidValue`` (never a database error).
    ``limits`` maps the SCIM attribute name to the attribute of the parsed resource and its limit."""
    for attribute, limit in limits.items():
        value = getattr(resource, _snake(attribute), None)
        if isinstance(value, str) and len(value) > limit:
            raise InvalidValueException(detail=f"{attribute} is longer than {limit} characters")


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def apply_patch(patch: Any, resource: Any) -> bool:
    """Apply a validated PatchOp to ``resource`` (all or nothing); SCIM errors as such."""
    try:
        with PROVIDER:
            return bool(patch.patch(resource))
    except SCIMException:
        raise
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_errors(exc)[0]) from None


def scim_filter(model: Any, expression: str | None) -> Any:
    """A filter bound to ``model`` (None when there is none); an unreadable one is ``invalidFilter``."""
    if not expression:
        return None
    try:
        return ScimFilter[model](expression)
    except SCIMException:
        raise
    except (ValueError, ValidationError) as exc:
        raise InvalidFilterException(detail=f"The filter cannot be read: {exc}") from None


def equality(filter_: Any, attribute: str) -> str | None:
    """The value of a top-level ``attribute eq "value"`` filter (what Entra sends), else None: lets a
    repository narrow with an index before the library evaluates the filter on what it found."""
    node = getattr(filter_, "ast", None)
    if (
        isinstance(node, Comparison)
        and node.op is CompareOperator.eq
        and node.attr_path.sub_attr is None
        and node.attr_path.attr.lower() == attribute.lower()
        and isinstance(node.value, str)
    ):
        return node.value
    return None


def selection(model: Any, attributes: str | None, excluded: str | None) -> Any:
    """``attributes`` / ``excludedAttributes`` as the library reads them."""
    if not attributes and not excluded:
        return None
    try:
        return ResponseParameters[model](attributes=attributes or None, excluded_attributes=excluded or None)
    except SCIMException:
        raise
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_errors(exc)[0]) from None


@dataclass(frozen=True)
class SearchRequest:
    filter: str | None
    start_index: int
    count: int | None
    attributes: str | None
    excluded_attributes: str | None


def search_request(body: Any) -> SearchRequest:
    """The body of ``POST /.search`` (RFC 7644 §3.4.3), read with scim2-models."""
    parsed = parse(ScimSearchRequest, body, Context.SEARCH_REQUEST)
    return SearchRequest(
        filter=str(parsed.filter) if parsed.filter else None,
        start_index=parsed.start_index or 1,
        count=parsed.count,
        attributes=",".join(map(str, parsed.attributes)) if parsed.attributes else None,
        excluded_attributes=",".join(map(str, parsed.excluded_attributes))
        if parsed.excluded_attributes
        else None,
    )


def dump(resource: Any, parameters: Any = None) -> dict[str, Any]:
    with PROVIDER:
        document: dict[str, Any] = resource.model_dump(
            scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=parameters
        )
    return document


@dataclass(frozen=True)
class Window:
    """startIndex (1-based) and count (at most MAX_RESULTS) of a list request."""

    start_index: int = 1
    count: int | None = None

    def of(self, rows: list[Any]) -> list[Any]:
        start = max(self.start_index, 1) - 1
        size = MAX_RESULTS if self.count is None else max(min(self.count, MAX_RESULTS), 0)
        return rows[start : start + size]


def listing(model: Any, matched: list[Any], window: Window, parameters: Any) -> dict[str, Any]:
    """A ListResponse over ``matched`` (all matches, in order), cut to the window."""
    page = window.of(matched)
    response = ListResponse[model](
        total_results=len(matched),
        start_index=max(window.start_index, 1),
        items_per_page=len(page),
        resources=page,
    )
    with PROVIDER:
        document: dict[str, Any] = response.model_dump(
            scim_ctx=Context.SEARCH_RESPONSE, response_parameters=parameters
        )
    return document

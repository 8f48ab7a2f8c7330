"""A small OpenAPI description of ``/scim/v2`` for schemathesis: the app's own document says only "a JSON
object" for SCIM bodies (identity providers read the SCIM schemas from ``/Schemas``), which a fuzzer cannot
aim with. Here the User, Group, PatchOp and SearchRequest shapes are spelled out — without the limits the
service enforces, so generated values overrun them — and the ids of a real user and group are offered, so
replacement and PATCH reach stored rows. Every answer is ``application/scim+json`` (204 has no body)."""

from __future__ import annotations

from typing import Any

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

_TEXT: dict[str, Any] = {"type": "string"}
LONG = "x" * 256  # one past the columns' 255 characters: generated text rarely gets that long
AWKWARD = [LONG, "a\x00b", "\ud800", '=HYPERLINK("https://example.com")', " ", ""]
_USER: dict[str, Any] = {
    "type": "object",
    "required": ["schemas", "userName"],
    "properties": {
        "schemas": {"type": "array", "items": {"enum": [USER, ENTERPRISE]}, "minItems": 1, "maxItems": 2},
        "userName": _TEXT,
        "externalId": _TEXT,
        "displayName": _TEXT,
        "active": {"type": "boolean"},
        "name": {
            "type": "object",
            "properties": {"formatted": _TEXT, "familyName": _TEXT, "givenName": _TEXT},
        },
        "emails": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {"value": _TEXT, "type": _TEXT, "primary": {"type": "boolean"}},
            },
        },
        ENTERPRISE: {"type": "object", "properties": {"department": _TEXT}},
    },
}
_GROUP: dict[str, Any] = {
    "type": "object",
    "required": ["schemas", "displayName"],
    "properties": {
        "schemas": {"type": "array", "items": {"enum": [GROUP]}, "minItems": 1, "maxItems": 1},
        "displayName": _TEXT,
        "externalId": _TEXT,
        "members": {
            "type": "array",
            "maxItems": 3,
            "items": {"type": "object", "required": ["value"], "properties": {"value": _TEXT}},
        },
    },
}


def _patch(paths: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["schemas", "Operations"],
        "properties": {
            "schemas": {"type": "array", "items": {"enum": [PATCH]}, "minItems": 1, "maxItems": 1},
            "Operations": {
                "type": "array",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "required": ["op"],
                    "properties": {
                        "op": {"enum": ["add", "replace", "remove", "Add", "Replace", "Remove"]},
                        "path": {"anyOf": [{"enum": paths}, _TEXT]},
                        "value": {},
                    },
                },
            },
        },
    }


_SEARCH: dict[str, Any] = {
    "type": "object",
    "required": ["schemas"],
    "properties": {
        "schemas": {"type": "array", "items": {"enum": [SEARCH]}, "minItems": 1, "maxItems": 1},
        "filter": _TEXT,
        "startIndex": {"type": "integer"},
        "count": {"type": "integer"},
        "attributes": {"type": "array", "items": _TEXT, "maxItems": 3},
        "excludedAttributes": {"type": "array", "items": _TEXT, "maxItems": 3},
    },
}

_ANSWER = {"description": "A SCIM resource, list or error", "content": {SCIM: {"schema": {"type": "object"}}}}


def _operation(
    body: dict[str, Any] | None = None,
    query: tuple[str, ...] = (),
    path: list[str] | None = None,
    empty: bool = False,
    examples: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "responses": {"204": {"description": "Deleted"}} if empty else {"default": _ANSWER},
        "parameters": [{"name": name, "in": "query", "schema": _TEXT} for name in query],
    }
    if empty:
        operation["responses"]["default"] = _ANSWER
    if path is not None:
        operation["parameters"].append(
            {"name": "id", "in": "path", "required": True, "schema": {"anyOf": [{"enum": path}, _TEXT]}}
        )
    if body is not None:
        media: dict[str, Any] = {"schema": body}
        if examples:
            media["examples"] = {f"e{index}": {"value": value} for index, value in enumerate(examples)}
        operation["requestBody"] = {"required": True, "content": {SCIM: media}}
    return operation


def _awkward(base: dict[str, Any], attributes: tuple[str, ...]) -> list[dict[str, Any]]:
    """``base`` with each attribute in turn set to each awkward text (sent in schemathesis' explicit phase)."""
    return [{**base, attribute: text} for attribute in attributes for text in AWKWARD]


def _awkward_patches(attributes: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"schemas": [PATCH], "Operations": [{"op": op, "path": attribute, "value": text}]}
        for attribute in attributes
        for text in AWKWARD
        for op in ("replace", "Add")
    ]


def document(user_ids: list[str], group_ids: list[str], domain: str) -> dict[str, Any]:
    """The SCIM surface, with ``user_ids`` and ``group_ids`` offered for the resource paths and example
    people at the organization's ``domain``."""
    listing = ("filter", "startIndex", "count", "attributes", "excludedAttributes")
    selection = ("attributes", "excludedAttributes")
    user_paths = [
        "userName",
        "externalId",
        "displayName",
        "active",
        "name.givenName",
        'emails[type eq "work"].value',
    ]
    group_paths = ["displayName", "externalId", "members"]
    user = {"schemas": [USER], "userName": f"fuzz@{domain}", "displayName": "Fuzz", "externalId": "oid"}
    group = {"schemas": [GROUP], "displayName": "Fuzzers", "externalId": "gid"}
    user_examples = _awkward(user, ("userName", "externalId", "displayName"))
    group_examples = _awkward(group, ("displayName", "externalId"))
    user_patches = _awkward_patches(("userName", "externalId", "displayName"))
    group_patches = _awkward_patches(("displayName", "externalId"))
    return {
        "openapi": "3.0.3",
        "info": {"title": "DonatelloAI SCIM 2.0", "version": "1"},
        "paths": {
            "/ServiceProviderConfig": {"get": _operation()},
            "/ResourceTypes": {"get": _operation()},
            "/ResourceTypes/{id}": {"get": _operation(path=["User", "Group"])},
            "/Schemas": {"get": _operation()},
            "/Schemas/{id}": {"get": _operation(path=[USER, GROUP, ENTERPRISE])},
            "/Users": {"get": _operation(query=listing), "post": _operation(_USER, examples=user_examples)},
            "/Users/{id}": {
                "get": _operation(query=selection, path=user_ids),
                "put": _operation(_USER, path=user_ids, examples=user_examples),
                "patch": _operation(_patch(user_paths), path=user_ids, examples=user_patches),
                "delete": _operation(path=user_ids, empty=True),
            },
            "/Groups": {
                "get": _operation(query=listing),
                "post": _operation(_GROUP, examples=group_examples),
            },
            "/Groups/{id}": {
                "get": _operation(query=selection, path=group_ids),
                "put": _operation(_GROUP, path=group_ids, examples=group_examples),
                "patch": _operation(_patch(group_paths), path=group_ids, examples=group_patches),
                "delete": _operation(path=group_ids, empty=True),
            },
            "/.search": {"post": _operation(_SEARCH)},
            "/Users/.search": {"post": _operation(_SEARCH)},
            "/Groups/.search": {"post": _operation(_SEARCH)},
        },
    }

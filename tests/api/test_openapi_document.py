"""The OpenAPI document describes what the API answers (generated clients rely on it)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM = "application/problem+json"


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


async def test_authenticated_operations_document_401_and_permissions_403(app: FastAPI) -> None:
    document = app.openapi()
    me = document["paths"]["/v1/me"]["get"]
    assert me["x-permissions"] == [] and "401" in me["responses"] and "403" not in me["responses"]
    for method, path, op in _operations(document):
        if "x-permissions" in op:
            assert PROBLEM in op["responses"]["401"]["content"], (method, path)
        if op.get("x-permissions"):
            assert PROBLEM in op["responses"]["403"]["content"], (method, path)


async def test_422_is_problem_json_everywhere_and_bodies_document_400_and_413(app: FastAPI) -> None:
    for method, path, op in _operations(app.openapi()):
        assert list(op["responses"]["422"]["content"]) == [PROBLEM], (method, path)
        if "requestBody" in op:
            assert {"400", "413"} <= set(op["responses"]), (method, path)


async def test_csv_downloads_and_the_sign_in_redirect_are_described(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path in ("/v1/reports/organization", "/v1/reports/departments/{department_id}/spend/{group}"):
        assert {"application/json", "text/csv"} <= set(paths[path]["get"]["responses"]["200"]["content"])
    assert "text/csv" in paths["/v1/cost-events/export"]["get"]["responses"]["200"]["content"]
    login = paths["/v1/auth/login"]["get"]["responses"]
    assert "content" not in login["302"] and "Location" in login["302"]["headers"]
    assert "200" not in login

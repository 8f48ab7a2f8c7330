"""Malformed input of every kind is a 4xx problem document, never a 500 (nothing reaches PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field as default

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests.support import factories
from tests.support.signin import bearer

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {dept} is replaced by a real department's id
    body: bytes | None = None
    status: int | None = None  # the exact status, when it matters; any 4xx otherwise
    field: str | None = None  # the field the problem names
    params: dict[str, str] = default(default_factory=dict)


def raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


CASES = {
    "bad JSON": Case("POST", "/v1/departments", b'{"name": "x",', 422),
    "not UTF-8": Case("POST", "/v1/departments", b'{"name": "\xff\xfe", "code": "AB"}', 400),
    "wrong types": Case("POST", "/v1/departments", b'{"name": 5, "code": ["A"]}', 422, "body.name"),
    "a JSON array for an object": Case("POST", "/v1/api-keys", b"[1, 2]", 422),
    "huge number as money": Case(
        "PUT", "/v1/departments/{dept}/budget", b'{"monthly_budget_aud": 1e400}', 422
    ),
    "huge integer as money": Case(
        "PUT", "/v1/departments/{dept}/budget", raw('{"monthly_budget_aud": 1' + "0" * 40 + "}"), 422
    ),
    "integer longer than Python parses": Case(
        "PUT", "/v1/me/preferences/theme", raw('{"value": 1' + "0" * 5000 + "}"), 400
    ),
    "huge number in the query": Case("GET", "/v1/departments", params={"limit": "9" * 40}, status=422),
    "10 MB body": Case("PUT", "/v1/me/preferences/theme", raw(json.dumps({"value": "x" * 10_000_000})), 413),
    "preference over its cap": Case(
        "PUT", "/v1/me/preferences/theme", raw(json.dumps({"value": "x" * 100_000})), 422, "body.value"
    ),
    "settings over their cap": Case(
        "PATCH", "/v1/departments/{dept}", raw(json.dumps({"settings": {"k": "x" * 70_000}})), 422
    ),
    "NUL in a name": Case(
        "PATCH", "/v1/departments/{dept}", raw('{"name": "Mar\\u0000keting"}'), 422, "body.name"
    ),
    "NUL in a key name": Case(
        "POST", "/v1/api-keys", raw('{"name": "k\\u0000", "scopes": []}'), 422, "body.name"
    ),
    "NUL in a preference key": Case(
        "PUT", "/v1/me/preferences/x", raw('{"value": {"k\\u0000": "v"}}'), 422, "body.value.k\\x00"
    ),
    "NUL in settings": Case(
        "PATCH", "/v1/departments/{dept}", raw('{"settings": {"a": "\\u0000"}}'), 422, "body.settings.a"
    ),
    "NUL in a query filter": Case(
        "GET", "/v1/audit-events", params={"event_type": "a\x00b"}, status=422, field="query.event_type"
    ),
    "NUL in a path": Case("GET", "/v1/files/a%00b", status=422, field="path.token"),
    "lone surrogate": Case(
        "POST", "/v1/departments", raw('{"name": "\\ud800x", "code": "AB"}'), 422, "body.name"
    ),
    "lone surrogate as a key": Case("PUT", "/v1/me/preferences/x", raw('{"value": {"\\udfff": 1}}'), 422),
    "deep nesting": Case("PUT", "/v1/me/preferences/x", raw('{"value": ' + nested(100) + "}"), 422),
    "deeper than the parser goes": Case(
        "PUT", "/v1/me/preferences/x", raw('{"value": ' + nested(100_000) + "}"), 400
    ),
    "NaN money": Case(
        "PUT", "/v1/departments/{dept}/budget", b'{"monthly_budget_aud": NaN}', 422, "body.monthly_budget_aud"
    ),
    "Infinity money": Case(
        "PUT",
        "/v1/departments/{dept}/budget",
        b'{"monthly_budget_aud": Infinity}',
        422,
        "body.monthly_budget_aud",
    ),
    "NaN money as a string": Case(
        "PUT", "/v1/departments/{dept}/budget", b'{"monthly_budget_aud": "NaN"}', 422
    ),
    "-Infinity refund as a string": Case(
        "POST",
        "/v1/cost-events/00000000-0000-0000-0000-000000000001/adjustments",
        b'{"kind": "refund", "amount_aud": "-Infinity", "reason": "r"}',
        422,
    ),
    "NaN in a stored JSON value": Case(
        "PUT", "/v1/me/preferences/x", b'{"value": [1, NaN]}', 422, "body.value.1"
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_malformed_input_is_a_4xx_problem(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, case: Case
) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    admin = await factories.user(db, org, role="org_admin", department=dept)

    response = await client.request(
        case.method,
        case.path.replace("{dept}", str(dept.id)),
        content=case.body,
        params=case.params,
        headers={**bearer(tokens.issue(admin.id, org.id)), **(JSON if case.body is not None else {})},
    )

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code and problem["request_id"]
    if case.status is not None:
        assert response.status_code == case.status, response.text
    if case.field is not None:
        assert case.field in [error["field"] for error in problem["errors"]], problem


async def test_a_streamed_body_over_the_cap_is_a_413_problem(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    """Without Content-Length (chunked), the cap applies as the body arrives."""
    org = await factories.organization(db)
    member = await factories.user(db, org)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"value": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    response = await client.put(
        "/v1/me/preferences/theme",
        content=chunks(),
        headers={**bearer(tokens.issue(member.id, org.id)), **JSON},
    )

    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"

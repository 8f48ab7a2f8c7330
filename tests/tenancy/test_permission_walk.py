"""Every operation of the OpenAPI document by every permission, with session tokens and scoped API keys.

Each operation declares what it needs (``x-permissions``: any one of them; an empty list: any signed-in
user). A credential lacking it must get the 403 of the permission check, whatever else the request
carries; a credential holding it must get past that check (what happens next is the operation's own
business: 404 for an unknown id, 422 for a missing body...). API keys are a super admin's (who holds every
permission), each narrowed to one scope: nothing but the scope may open an operation — and an operation
on one's own sign-ins or preferences (``x-api-keys: false``) opens to no key at all, whatever its scope
(403 ``api-key-not-allowed``), while every signed-in session still passes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.tenancy import GRANTS, Permission, Role
from tests.support import factories
from tests.support.signin import bearer

#: Operations anyone may call: probes, the sign-in flow, refresh (the token is the credential) and signed
#: file links (the link is the credential).
PUBLIC = {
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
    ("get", "/v1/auth/login"),
    ("post", "/v1/auth/callback"),
    ("post", "/v1/auth/refresh"),
    ("get", "/v1/files/{token}"),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    url: str
    required: frozenset[Permission] | None  # None: public; empty: any signed-in user
    api_keys: bool = True  # False: refused to every API key


#: SCIM takes an organization's provisioning token, never a user's credential: it is attacked on its own
#: in tests/provisioning/test_scim_surface.py (another organization's token, a user's token, no token).
PROVISIONING = "/scim/v2/"


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        if path.startswith(PROVISIONING):
            continue
        for method, operation in methods.items():
            url = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", _sample(parameter["schema"]))
            required = operation.get("x-permissions")
            found.append(
                Operation(
                    method,
                    path,
                    url,
                    None if required is None else frozenset(Permission(value) for value in required),
                    operation.get("x-api-keys", True),
                )
            )
    return found


def _sample(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "theme"


def _refused_by_the_check(response: httpx.Response) -> bool:
    return response.status_code == 403 and "required_permissions" in response.json()


def _refused_to_keys(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["type"].endswith("/api-key-not-allowed")


#: Where keys are refused: one's own sign-ins (sign out, list, revoke one, sign out everywhere) and
#: preferences. A key scoped to anything must never end its owner's browser sessions.
KEYLESS = {
    ("post", "/v1/auth/logout"),
    ("get", "/v1/auth/sessions"),
    ("delete", "/v1/auth/sessions/{session_id}"),
    ("post", "/v1/auth/sessions/revoke-all"),
    ("get", "/v1/me/preferences"),
    ("put", "/v1/me/preferences/{key}"),
    ("delete", "/v1/me/preferences/{key}"),
}


async def test_session_and_preference_routes_are_the_ones_that_refuse_api_keys(app: FastAPI) -> None:
    keyless = {(op.method, op.path) for op in operations(app.openapi()) if not op.api_keys}
    assert keyless == KEYLESS


async def test_every_operation_declares_what_it_needs(app: FastAPI) -> None:
    public = {(op.method, op.path) for op in operations(app.openapi()) if op.required is None}
    assert public <= PUBLIC


async def test_every_operation_refuses_every_credential_lacking_its_permission(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, app: FastAPI
) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    members = {role: await factories.user(db, org, role=role.value, department=dept) for role in Role}
    sessions = {role: bearer(tokens.issue(member.id, org.id)) for role, member in members.items()}
    keys: dict[Permission, dict[str, str]] = {}
    for permission in Permission:
        created = await client.post(
            "/v1/api-keys",
            json={"name": permission.value, "scopes": [permission.value]},
            headers=sessions[Role.SUPER_ADMIN],
        )
        assert created.status_code == 201, created.text
        keys[permission] = bearer(created.json()["key"])

    walked = wrong = keyless = 0
    failures: list[str] = []
    for op in operations(app.openapi()):
        if op.required is None:
            continue
        credentials = [(f"key {p.value}", keys[p], p in op.required) for p in Permission]
        credentials += [(f"session {r.value}", sessions[r], bool(op.required & GRANTS[r])) for r in Role]
        for name, auth, holds in credentials:
            holds = holds or not op.required
            response = await client.request(op.method.upper(), op.url, headers=auth)
            walked += 1
            if not op.api_keys and name.startswith("key "):
                keyless += 1
                if not _refused_to_keys(response):
                    failures.append(
                        f"{op.method.upper()} {op.path} let {name} through: {response.status_code}"
                    )
                continue
            if holds and (response.status_code == 401 or _refused_by_the_check(response)):
                failures.append(f"{op.method.upper()} {op.path} refused {name}: {response.status_code}")
            if not holds:
                wrong += 1
                if not _refused_by_the_check(response):
                    failures.append(
                        f"{op.method.upper()} {op.path} let {name} through: {response.status_code}"
                    )

    assert failures == []
    assert keyless == len(KEYLESS) * len(Permission)  # every key was tried on every keyless route
    assert wrong > 900  # the walk really covered the matrix (about 60 operations by 26 credentials)
    assert walked > 1400

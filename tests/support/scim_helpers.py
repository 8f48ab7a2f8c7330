"""Calling /scim/v2 the way Entra's provisioning service does."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit import Actor
from donatello.models import Organization
from donatello.provisioning import service as provisioning

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def provisioning_token(db: AsyncSession, org: Organization) -> str:
    issued = await provisioning.issue(db, org.id, Actor(None, None, {"actor": "test"}))
    return issued.token


class Entra:
    """The provisioning service of one Entra tenant, holding that organization's secret token."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client, self.token = client, token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": SCIM, "Accept": SCIM}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"/scim/v2{path}", params=params, headers=self._headers())

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"/scim/v2{path}", json=body, headers=self._headers())

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.put(f"/scim/v2{path}", json=body, headers=self._headers())

    async def patch(self, path: str, *operations: dict[str, Any]) -> httpx.Response:
        body = {"schemas": [PATCH], "Operations": list(operations)}
        return await self.client.patch(f"/scim/v2{path}", json=body, headers=self._headers())

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(f"/scim/v2{path}", headers=self._headers())


def entra_user(user_name: str, oid: str, *, department: str | None = None) -> dict[str, Any]:
    """The body Entra posts with its default attribute mappings (objectId mapped to externalId)."""
    body: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE],
        "externalId": oid,
        "userName": user_name,
        "active": True,
        "displayName": "Ada Lovelace",
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        "title": "Analyst",  # mapped by Entra's defaults, not kept here: ignored, never an error
        "phoneNumbers": [{"type": "work", "value": "+61 2 5550 1234"}],
        "roles": [],
    }
    if department:
        body[ENTERPRISE] = {"department": department, "employeeNumber": "42"}
    return body

"""Text that does not fit is the identity provider's error, in SCIM's own format — never a 500: every kept
SCIM attribute has a declared length, checked on create, replace and PATCH, and a body over the cap is
SCIM's 413."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support import factories
from tests.support.scim_helpers import GROUP, SCIM, Entra, entra_user, provisioning_token

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LONG = "x" * 256


def _invalid_value(response: httpx.Response) -> bool:
    body = response.json()
    return (
        response.status_code == 400
        and response.headers["content-type"].startswith(SCIM)
        and body["schemas"] == [ERROR]
        and body["scimType"] == "invalidValue"
        and body["status"] == "400"
    )


@pytest.mark.parametrize("attribute", ["displayName", "userName", "externalId"])
async def test_a_user_attribute_longer_than_its_column_is_invalid_value_on_create_replace_and_patch(
    client: httpx.AsyncClient, db: AsyncSession, attribute: str
) -> None:
    org = await factories.organization(db)
    entra = Entra(client, await provisioning_token(db, org))
    too_long = f"{LONG}@{org.domain}" if attribute == "userName" else LONG

    def body(**changes: Any) -> dict[str, Any]:
        return {**entra_user(f"u.{uuid.uuid4().hex[:6]}@{org.domain}", str(uuid.uuid4())), **changes}

    created = await entra.post("/Users", body(**{attribute: too_long}))
    kept = await entra.post("/Users", body())
    assert kept.status_code == 201, kept.text
    user_id = kept.json()["id"]
    replaced = await entra.put(f"/Users/{user_id}", body(**{attribute: too_long}))
    patched = await entra.patch(f"/Users/{user_id}", {"op": "Replace", "path": attribute, "value": too_long})

    for response in (created, replaced, patched):
        assert _invalid_value(response), response.text
        assert attribute in response.json()["detail"]
    assert (await entra.get(f"/Users/{user_id}")).json()[attribute] == kept.json()[attribute]
    total = (await entra.get("/Users")).json()["totalResults"]
    assert total == 1  # the refused create wrote nothing


@pytest.mark.parametrize("attribute", ["displayName", "externalId"])
async def test_a_group_attribute_longer_than_its_column_is_invalid_value_on_create_replace_and_patch(
    client: httpx.AsyncClient, db: AsyncSession, attribute: str
) -> None:
    org = await factories.organization(db)
    entra = Entra(client, await provisioning_token(db, org))
    group = {"schemas": [GROUP], "displayName": "Staff", "externalId": str(uuid.uuid4())}

    created = await entra.post("/Groups", {**group, attribute: LONG})
    kept = await entra.post("/Groups", group)
    assert kept.status_code == 201, kept.text
    group_id = kept.json()["id"]
    replaced = await entra.put(f"/Groups/{group_id}", {**group, attribute: LONG})
    patched = await entra.patch(f"/Groups/{group_id}", {"op": "Replace", "path": attribute, "value": LONG})

    for response in (created, replaced, patched):
        assert _invalid_value(response), response.text
    assert (await entra.get(f"/Groups/{group_id}")).json()[attribute] == group[attribute]
    assert (await entra.get("/Groups")).json()["totalResults"] == 1


async def test_a_body_over_the_cap_is_scims_own_413(client: httpx.AsyncClient, db: AsyncSession) -> None:
    org = await factories.organization(db)
    token = await provisioning_token(db, org)
    huge = {**entra_user(f"big@{org.domain}", str(uuid.uuid4())), "displayName": "x" * 1_100_000}

    response = await client.post(
        "/scim/v2/Users", json=huge, headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM}
    )

    assert response.status_code == 413
    assert response.headers["content-type"].startswith(SCIM)
    assert response.json()["schemas"] == [ERROR] and response.json()["status"] == "413"

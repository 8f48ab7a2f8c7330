"""Error answers a person can act on: where a body is broken, what to send, who may act, how to sign in."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests.support import factories
from tests.support import generation_world as gw


async def test_malformed_json_says_where_and_what(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    broken = await client.post(
        "/v1/generations",
        content=b'{\n  "prompt": "a kite",\n  "n": 1,\n}',
        headers={**world.headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    problem = broken.json()
    assert "JSON decode error" not in problem["detail"]
    assert problem["detail"] == (
        "body: The body is not valid JSON at line 4, column 1 (character 34): "
        "Expecting property name enclosed in double quotes"
    )


async def test_a_body_not_sent_as_json_is_415_saying_what_to_send(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    form = await client.post("/v1/generations", data={"prompt": "a kite"}, headers=world.headers)
    bare = await client.post("/v1/generations", content=b'{"prompt": "a kite"}', headers=world.headers)
    for response in (form, bare):
        assert response.status_code == 415, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/unsupported-media-type")
        assert "Content-Type: application/json" in response.json()["detail"]
    sent = await client.post("/v1/generations", json={"prompt": "a kite"}, headers=world.headers)
    assert sent.status_code == 202


async def test_a_manager_who_may_read_a_members_generation_is_forbidden_to_act_on_it(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    manager = await factories.user(db, world.org, role="dept_manager", department=world.department)
    headers = {"Authorization": f"Bearer {tokens.issue(manager.id, world.org.id)}"}
    made = (await client.post("/v1/generations", json={"prompt": "mine"}, headers=world.headers)).json()

    assert (await client.get(f"/v1/generations/{made['id']}", headers=headers)).status_code == 200
    for method, path in (
        ("GET", f"/v1/generations/{made['id']}/prompt"),
        ("POST", f"/v1/generations/{made['id']}/cancel"),
        ("DELETE", f"/v1/generations/{made['id']}"),
    ):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["required_permission"] == "generations:manage-others"
    still = (await client.get(f"/v1/generations/{made['id']}", headers=world.headers)).json()
    assert still["status"] == "pending"


async def test_resource_names_read_like_words_and_a_403_names_no_empty_role_list(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    headers = {"Authorization": f"Bearer {tokens.issue(admin.id, org.id)}"}
    missing = await client.post(
        f"/v1/cost-events/{uuid.uuid4()}/adjustments",
        json={"kind": "refund", "amount_aud": "1.00", "reason": "test"},
        headers=headers,
    )
    assert missing.status_code == 404
    assert missing.json()["resource"] == "cost event" and "cost event" in missing.json()["detail"]

    refused = await client.post("/v1/providers", json={}, headers=headers)
    assert refused.status_code == 403
    assert "required_roles" not in refused.json()
    assert refused.json()["required_permission"] == "providers:manage"


async def test_401_names_the_bearer_scheme_and_405_has_its_own_type(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/v1/generations")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    wrong_method = await client.put("/v1/generations")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"].endswith("/method-not-allowed")
    assert wrong_method.json()["title"] == "Method not allowed"

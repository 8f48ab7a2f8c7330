"""The SCIM surface as an identity provider and an attacker see it: one organization's token never
reaches another's users or groups (404), errors are SCIM errors, tokens rotate, lists page."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import User
from tests.support import factories
from tests.support.scim_helpers import ENTERPRISE, GROUP, SCIM, USER, Entra, entra_user, provisioning_token
from tests.support.signin import bearer

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


async def _tenant(db: AsyncSession, client: httpx.AsyncClient) -> tuple[Entra, str, str]:
    org = await factories.organization(db)
    entra = Entra(client, await provisioning_token(db, org))
    user = await entra.post("/Users", entra_user(f"u.{uuid.uuid4().hex[:8]}@{org.domain}", str(uuid.uuid4())))
    assert user.status_code == 201, user.text
    group = await entra.post(
        "/Groups", {"schemas": [GROUP], "displayName": "Staff", "members": [{"value": user.json()["id"]}]}
    )
    assert group.status_code == 201, group.text
    return entra, user.json()["id"], group.json()["id"]


async def test_one_organizations_token_gets_404_for_another_organizations_users_and_groups(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    entra_a, _, group_a = await _tenant(db, client)
    entra_b, user_b, group_b = await _tenant(db, client)
    user_b_name = (await entra_b.get(f"/Users/{user_b}")).json()["userName"]

    for response in (
        await entra_a.get(f"/Users/{user_b}"),
        await entra_a.put(f"/Users/{user_b}", entra_user("stolen@example.com", str(uuid.uuid4()))),
        await entra_a.patch(f"/Users/{user_b}", {"op": "replace", "path": "active", "value": False}),
        await entra_a.delete(f"/Users/{user_b}"),
        await entra_a.get(f"/Groups/{group_b}"),
        await entra_a.patch(
            f"/Groups/{group_b}", {"op": "add", "path": "members", "value": [{"value": user_b}]}
        ),
        await entra_a.delete(f"/Groups/{group_b}"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["schemas"] == [ERROR] and response.json()["status"] == "404"
    assert (await entra_a.get("/Users", filter=f'userName eq "{user_b_name}"')).json()["totalResults"] == 0
    assert all(item["id"] != user_b for item in (await entra_a.get("/Users")).json()["Resources"])
    assert [item["id"] for item in (await entra_a.get("/Groups")).json()["Resources"]] == [group_a]
    # Nor can A put B's user into its own group.
    smuggled = await entra_a.patch(
        f"/Groups/{group_a}", {"op": "add", "path": "members", "value": [{"value": user_b}]}
    )
    assert smuggled.status_code == 400 and smuggled.json()["scimType"] == "invalidValue"
    # B's user is untouched.
    still = await entra_b.get(f"/Users/{user_b}")
    assert still.json()["active"] is True and still.json()["userName"] == user_b_name


async def test_errors_are_scim_errors_never_problem_json_or_html(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    entra, user_id, _ = await _tenant(db, client)

    anonymous = await client.get("/scim/v2/Users")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith(SCIM)
    assert anonymous.json()["schemas"] == [ERROR]
    member = await factories.user(db, await factories.organization(db), role="org_admin")
    as_user = await client.get(
        "/scim/v2/Users", headers=bearer(tokens.issue(member.id, member.organization_id))
    )
    assert as_user.status_code == 401  # a person's access token is not a provisioning token

    bad_filter = await entra.get("/Users", filter='userName eq "unterminated')
    assert bad_filter.status_code == 400 and bad_filter.json()["scimType"] == "invalidFilter"
    nowhere = await entra.get(f"/{uuid.uuid4()}")
    assert nowhere.status_code == 404 and nowhere.json()["schemas"] == [ERROR]
    wrong_method = await client.post("/scim/v2/ServiceProviderConfig", headers=entra._headers())
    assert wrong_method.status_code == 405 and wrong_method.json()["schemas"] == [ERROR]
    not_json = await client.post(
        "/scim/v2/Users", content=b"{nope", headers={**entra._headers(), "Content-Type": SCIM}
    )
    assert not_json.status_code == 400 and not_json.json()["scimType"] == "invalidSyntax"
    no_user_name = await entra.post("/Users", {"schemas": [USER], "displayName": "x"})
    assert no_user_name.status_code == 400 and no_user_name.json()["schemas"] == [ERROR]
    taken = (await entra.get(f"/Users/{user_id}")).json()["userName"]
    duplicate = await entra.post("/Users", entra_user(taken, str(uuid.uuid4())))
    assert duplicate.status_code == 409 and duplicate.json()["scimType"] == "uniqueness"
    unknown_op = await entra.patch(f"/Users/{user_id}", {"op": "move", "path": "displayName", "value": "x"})
    assert unknown_op.status_code == 400 and unknown_op.json()["schemas"] == [ERROR]
    bad_count = await entra.get("/Users", count="many")
    assert bad_count.status_code == 400 and bad_count.json()["schemas"] == [ERROR]


async def test_issuing_a_new_token_revokes_the_previous_one(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    org = await factories.organization(db)
    first = await provisioning_token(db, org)
    second = await provisioning_token(db, org)
    assert (await Entra(client, first).get("/Users")).status_code == 401
    assert (await Entra(client, second).get("/Users")).status_code == 200


async def test_lists_page_by_start_index_and_count_and_entra_lookups_ignore_case(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    org = await factories.organization(db)
    entra = Entra(client, await provisioning_token(db, org))
    names = [f"p{index}.{uuid.uuid4().hex[:6]}@{org.domain.capitalize()}" for index in range(5)]
    for name in names:
        assert (await entra.post("/Users", entra_user(name, str(uuid.uuid4())))).status_code == 201

    everyone = [item["userName"] for item in (await entra.get("/Users")).json()["Resources"]]
    assert sorted(everyone) == sorted(names)
    page = (await entra.get("/Users", startIndex=2, count=2)).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [item["userName"] for item in page["Resources"]] == everyone[1:3]  # a stable order
    found = (await entra.get("/Users", filter=f'userName eq "{names[3].upper()}"')).json()
    assert [item["userName"] for item in found["Resources"]] == [names[3]]
    with_department = entra_user(
        f"d.{uuid.uuid4().hex[:6]}@{org.domain}", str(uuid.uuid4()), department="Unknown Dept"
    )
    created = await entra.post("/Users", with_department)
    # kept as sent, mapped to nothing
    assert created.json()[ENTERPRISE] == {"department": "Unknown Dept", "employeeNumber": "42"}


async def test_entra_membership_changes_in_both_of_its_forms_follow_the_role_mapping(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    org = await factories.organization(db, entra={"role_mapping": {"Images.Admin": "org_admin"}})
    entra = Entra(client, await provisioning_token(db, org))
    ids = []
    for _ in range(2):
        created = await entra.post(
            "/Users", entra_user(f"m.{uuid.uuid4().hex[:6]}@{org.domain}", str(uuid.uuid4()))
        )
        ids.append(created.json()["id"])
    group = (await entra.post("/Groups", {"schemas": [GROUP], "displayName": "Images.Admin"})).json()["id"]

    added = await entra.patch(
        f"/Groups/{group}", {"op": "Add", "path": "members", "value": [{"value": ids[0]}, {"value": ids[1]}]}
    )
    assert sorted(member["value"] for member in added.json()["members"]) == sorted(ids)
    promoted = [await db.get(User, uuid.UUID(i)) for i in ids]
    assert {user.role if user else None for user in promoted} == {"org_admin"}

    by_filter = await entra.patch(
        f"/Groups/{group}", {"op": "Remove", "path": f'members[value eq "{ids[0]}"]'}
    )
    assert by_filter.status_code == 200, by_filter.text
    by_value = await entra.patch(
        f"/Groups/{group}", {"op": "Remove", "path": "members", "value": [{"value": ids[1]}]}
    )
    assert by_value.status_code == 200, by_value.text
    assert "members" not in by_value.json()
    for user_id in ids:
        account = await db.get(User, uuid.UUID(user_id))
        assert account is not None
        await db.refresh(account)
        assert account.role == "standard_user"  # out of every role-mapped group
    slim = (
        await entra.get("/Groups", filter='displayName eq "Images.Admin"', excludedAttributes="members")
    ).json()
    assert slim["totalResults"] == 1 and "members" not in slim["Resources"][0]


async def test_a_work_address_entra_replaces_is_created_when_missing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    org = await factories.organization(db)
    entra = Entra(client, await provisioning_token(db, org))
    body = entra_user(f"w.{uuid.uuid4().hex[:6]}@{org.domain}", str(uuid.uuid4()))
    del body["emails"]
    user_id = (await entra.post("/Users", body)).json()["id"]
    patched = await entra.patch(
        f"/Users/{user_id}",
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "w@example.com"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["emails"] == [{"type": "work", "value": "w@example.com"}]

"""Finding people by part of their name or e-mail (``GET /v1/users?search=``, the People page's box):
any case, wildcards taken literally, never beyond the searcher's reach."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import User
from tests.support import factories
from tests.support.signin import bearer_for


async def test_people_are_found_by_part_of_their_name_or_email_within_reach(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    mine, other = await factories.department(db, org), await factories.department(db, org)
    admin = await factories.user(db, org, role="org_admin")
    manager = await factories.user(db, org, role="dept_manager", department=mine)
    robin = await factories.user(db, org, department=mine)
    robin.display_name = "Robin Example"
    robyn = await factories.user(db, org, department=other)
    robyn.display_name = "Robyn 100% Other"
    stranger = await factories.user(db, await factories.organization(db))
    stranger.display_name = "Robin Elsewhere"
    await db.flush()

    async def found(who: User, search: str) -> set[str]:
        answer = await client.get("/v1/users", params={"search": search}, headers=bearer_for(tokens, who))
        assert answer.status_code == 200
        return {user["id"] for user in answer.json()["items"]}

    assert await found(admin, "robin EX") == {str(robin.id)}  # the name, any case
    assert await found(admin, "ROB") == {str(robin.id), str(robyn.id)}  # never another organization's
    assert await found(admin, robin.email.split("@")[0].upper()) == {str(robin.id)}  # the e-mail
    assert await found(admin, "100%") == {str(robyn.id)}
    assert await found(admin, "rob%ex") == set()  # % is a character, not a wildcard
    assert await found(admin, "rob_n ex") == set()  # nor is _
    assert await found(manager, "rob") == {str(robin.id)}  # a manager: their department only

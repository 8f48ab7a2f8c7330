"""Our own sessions after sign-in: refresh rotation, reuse detection, logout, revoke-all, listing, cleanup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox, User, UserSession
from donatello.sessions import service as sessions
from tests.support import factories
from tests.support.clock import WHOLE_SECOND, Clock
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.signin import bearer, sign_in


async def _signed_in(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> tuple[dict[str, str], EntraUser]:
    tid = str(uuid.uuid4())
    org = await factories.organization(db, azure_tenant_id=tid)
    who = EntraUser(tid=tid, preferred_username=f"user-{uuid.uuid4().hex[:8]}@{org.domain}")
    response = await sign_in(client, idp, who)
    assert response.status_code == 200, response.text
    return response.json(), who


async def test_refresh_rotates_and_the_old_token_stops_working(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    first, _ = await _signed_in(client, db, idp)

    second = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).status_code == 200
    stored = (await db.execute(select(UserSession.refresh_token_hash))).scalars().all()
    assert first["refresh_token"] not in stored and pair["refresh_token"] not in stored
    assert sessions.token_hash(pair["refresh_token"]) in stored


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family_and_is_audited(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    first, _ = await _signed_in(client, db, idp)
    rotated = (await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()

    replay = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert replay.status_code == 401
    assert replay.json()["type"].endswith("/refresh-token-reused")
    # The thief's replay also kills the legitimate successor: both must sign in again.
    assert (
        await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    ).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(rotated["access_token"]))).status_code == 401
    event = (
        (
            await db.execute(
                select(AuditOutbox).where(AuditOutbox.event_type == "session.refresh_reuse_detected")
            )
        )
        .scalars()
        .all()
    )
    assert [e.payload["metadata"]["sessions_revoked"] for e in event if e.payload["resource_id"]] == [1]


async def test_logout_ends_the_sign_in(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    pair, _ = await _signed_in(client, db, idp)

    out = await client.post("/v1/auth/logout", headers=bearer(pair["access_token"]))

    assert out.status_code == 200 and out.json() == {"revoked": 1}
    assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).status_code == 401
    assert (
        await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).status_code == 401


async def test_users_list_their_sessions_and_revoke_them_all(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    laptop, who = await _signed_in(client, db, idp)
    phone = (await sign_in(client, idp, who)).json()

    listed = await client.get("/v1/auth/sessions", headers=bearer(phone["access_token"]))
    assert listed.status_code == 200
    assert {s["id"]: s["current"] for s in listed.json()["items"]} == {
        phone["session_id"]: True,
        laptop["session_id"]: False,
    }
    assert "refresh" not in listed.text

    revoked = await client.post("/v1/auth/sessions/revoke-all", headers=bearer(phone["access_token"]))

    assert revoked.json() == {"revoked": 2}
    for pair in (laptop, phone):
        assert (
            await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).status_code == 401


async def test_a_user_cannot_revoke_someone_elses_session(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    mine, _ = await _signed_in(client, db, idp)
    theirs, _ = await _signed_in(client, db, idp)
    response = await client.delete(
        f"/v1/auth/sessions/{theirs['session_id']}", headers=bearer(mine["access_token"])
    )
    assert response.status_code == 404
    assert (await client.get("/v1/me", headers=bearer(theirs["access_token"]))).status_code == 200


async def test_garbage_refresh_tokens_are_401_problems(client: httpx.AsyncClient) -> None:
    for body in ({"refresh_token": "dnr_nope"}, {"refresh_token": "x" * 512}):
        response = await client.post("/v1/auth/refresh", json=body)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.post("/v1/auth/refresh", json={})).status_code == 422


async def test_cleanup_deletes_sessions_expired_more_than_30_days_ago(db: AsyncSession) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org)
    now = datetime.now(UTC)
    ages = {
        "old": now - timedelta(days=31),
        "recent": now - timedelta(days=29),
        "live": now + timedelta(days=1),
    }
    for name, expires_at in ages.items():
        db.add(
            UserSession(
                organization_id=org.id,
                user_id=member.id,
                family_id=uuid.uuid4(),
                refresh_token_hash=f"{name}-{uuid.uuid4().hex}",
                expires_at=expires_at,
            )
        )
    await db.flush()

    deleted = await sessions.delete_expired(db)

    left = (
        await db.execute(select(UserSession.refresh_token_hash).where(UserSession.user_id == member.id))
    ).scalars()
    assert deleted >= 1
    assert sorted(h.split("-")[0] for h in left) == ["live", "recent"]


async def test_sessions_are_listed_a_page_at_a_time(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    laptop, who = await _signed_in(client, db, idp)
    phone = (await sign_in(client, idp, who)).json()
    tablet = (await sign_in(client, idp, who)).json()
    headers = bearer(tablet["access_token"])

    first = (await client.get("/v1/auth/sessions", params={"limit": 2}, headers=headers)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await client.get(
            "/v1/auth/sessions", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    assert rest["next_cursor"] is None
    assert {s["id"] for s in first["items"] + rest["items"]} == {
        laptop["session_id"],
        phone["session_id"],
        tablet["session_id"],
    }


async def test_an_operator_token_ends_with_logout_and_revoke_all_counts_what_it_ended(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    first = await sessions.operator_token(db, tokens, member.id, org.id, timedelta(minutes=5))
    second = await sessions.operator_token(db, tokens, member.id, org.id, timedelta(minutes=5))
    third = await sessions.operator_token(db, tokens, member.id, org.id, timedelta(minutes=5))
    assert (await client.get("/v1/me", headers=bearer(first))).status_code == 200

    out = await client.post("/v1/auth/logout", headers=bearer(first))
    assert out.json() == {"revoked": 1}
    ended = await client.get("/v1/me", headers=bearer(first))
    assert ended.status_code == 401 and "session has ended" in ended.json()["detail"]
    assert (await client.get("/v1/me", headers=bearer(second))).status_code == 200

    everywhere = await client.post("/v1/auth/sessions/revoke-all", headers=bearer(second))
    assert everywhere.json() == {"revoked": 2}
    for token in (second, third):
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401


async def test_a_one_second_token_is_dead_one_second_later(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(WHOLE_SECOND)
    monkeypatch.setattr(tokens, "clock", clock)
    org = await factories.organization(db)
    member = await factories.user(db, org)
    token = tokens.issue(member.id, org.id, lifetime=timedelta(seconds=1))
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200
    clock.advance(0.999)
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200
    clock.advance(0.001)
    expired = await client.get("/v1/me", headers=bearer(token))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


async def test_an_api_key_cannot_end_its_owners_sign_ins_or_change_their_preferences(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    pair, _ = await _signed_in(client, db, idp)
    as_person = bearer(pair["access_token"])
    await db.execute(
        update(User)
        .where(User.id == uuid.UUID((await client.get("/v1/me", headers=as_person)).json()["user_id"]))
        .values(role="org_admin")
    )
    created = await client.post(
        "/v1/api-keys", json={"name": "reports", "scopes": ["reports:read"]}, headers=as_person
    )
    assert created.status_code == 201, created.text
    as_key = bearer(created.json()["key"])

    refused = [
        await client.post("/v1/auth/sessions/revoke-all", headers=as_key),
        await client.get("/v1/auth/sessions", headers=as_key),
        await client.delete(f"/v1/auth/sessions/{pair['session_id']}", headers=as_key),
        await client.post("/v1/auth/logout", headers=as_key),
        await client.get("/v1/me/preferences", headers=as_key),
        await client.put("/v1/me/preferences/theme", json={"value": "dark"}, headers=as_key),
        await client.delete("/v1/me/preferences/theme", headers=as_key),
    ]

    for response in refused:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/api-key-not-allowed")
    assert (await client.get("/v1/me", headers=as_person)).status_code == 200  # the sign-in stands
    assert (await client.get("/v1/me/preferences", headers=as_person)).json() == []
    assert (await client.get("/v1/me", headers=as_key)).status_code == 200  # the key still does its job

"""The MFA rule for generation, enforced by ``CanGenerate`` on the real ``POST /v1/generations``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.errors import MfaRequired
from donatello.auth.mfa import ensure_may_generate
from donatello.auth.tokens import TokenSigner
from donatello.tenancy import Principal, Role
from tests.support import factories
from tests.support import generation_world as gw

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _principal(mfa: bool, grace: datetime | None, role: Role = Role.STANDARD_USER) -> Principal:
    return Principal(
        uuid.uuid4(), uuid.uuid4(), None, role, "a@b.c", mfa_enabled=mfa, mfa_grace_period_expires_at=grace
    )


def test_within_the_grace_period_or_with_mfa_a_user_may_generate() -> None:
    ensure_may_generate(_principal(False, NOW + timedelta(days=1)), NOW)
    ensure_may_generate(_principal(True, NOW - timedelta(days=30)), NOW)


def test_after_the_grace_period_without_mfa_generation_is_refused_with_a_clear_problem() -> None:
    with pytest.raises(MfaRequired) as refused:
        ensure_may_generate(_principal(False, NOW - timedelta(seconds=1)), NOW)
    problem = refused.value.problem()
    assert (problem["status"], problem["type"]) == (403, "https://donatello.ai/problems/mfa-required")
    assert "grace period has ended" in problem["detail"]


async def test_post_generations_answers_403_mfa_required_after_the_grace_period(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens, role="power_user")  # MFA on: may generate
    late = await factories.colleague(db, world.member, role="power_user")
    late.mfa_enabled, late.mfa_grace_period_expires_at = False, datetime.now(UTC) - timedelta(seconds=1)
    finance = await factories.colleague(db, world.member, role="finance")
    await db.flush()
    body = {"prompt": "a quiet harbour", "model": f"local/{world.local.model_name}"}

    responses = {
        name: await client.post(
            "/v1/generations",
            json=body,
            headers={"Authorization": f"Bearer {tokens.issue(m.id, m.organization_id)}"},
        )
        for name, m in {"late": late, "finance": finance, "ok": world.member}.items()
    }

    assert responses["late"].status_code == 403
    assert responses["late"].headers["content-type"] == "application/problem+json"
    assert responses["late"].json()["type"].endswith("/mfa-required")
    assert "grace period has ended" in responses["late"].json()["detail"]
    assert responses["finance"].status_code == 403
    assert responses["finance"].json()["type"].endswith("/forbidden")
    assert responses["ok"].status_code == 202, responses["ok"].text

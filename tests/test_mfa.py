"""The MFA rule for generation (enforced by ``CanGenerate``; the generation endpoint arrives later)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.dependencies import CanGenerate
from donatello.auth.errors import MfaRequired
from donatello.auth.mfa import ensure_may_generate
from donatello.core.errors import DomainError
from donatello.tenancy import Principal, Role
from tests import factories

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


async def test_can_generate_answers_403_mfa_required_over_http(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    probe = FastAPI()  # the generation endpoint arrives with its issue: a probe route stands in
    probe.state.__dict__.update(app.state.__dict__)

    @probe.get("/probe")
    async def generate(principal: CanGenerate) -> dict[str, str]:
        return {"ok": str(principal.user_id)}

    @probe.exception_handler(DomainError)
    async def render(_request: object, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.problem(), status_code=exc.status, media_type="application/problem+json")

    org = await factories.organization(db)
    late = await factories.user(db, org, mfa_enabled=False)
    finance = await factories.user(db, org, role="finance")
    ok = await factories.user(db, org, mfa_enabled=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=probe), base_url="http://probe") as http:
        signer = app.state.token_signer
        responses = {
            name: await http.get("/probe", headers={"Authorization": f"Bearer {signer.issue(m.id, org.id)}"})
            for name, m in {"late": late, "finance": finance, "ok": ok}.items()
        }
    assert responses["late"].status_code == 403
    assert responses["late"].json()["type"].endswith("/mfa-required")
    assert responses["finance"].status_code == 403
    assert responses["finance"].json()["type"].endswith("/forbidden")
    assert responses["ok"].status_code == 200

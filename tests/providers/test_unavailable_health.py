"""The model-health job: a model unavailable only because its credential could not be obtained is
available again once the credential can be had; one the provider refused waits for an administrator."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.models import AuditOutbox, ModelProvider, User
from donatello.providers import CredentialUnavailable, health, unavailable
from tests.support import factories
from tests.support import model_credentials as mc
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.savepoints import sessions_in
from tests.support.signin import bearer_for


async def test_a_model_waiting_for_its_credential_is_available_again_once_it_can_be_had(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    settings: Settings,
    azure_stub: AzureOpenAIStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AOAI_LATE_KEY", raising=False)
    monkeypatch.delenv("AOAI_NEVER_KEY", raising=False)
    org = await factories.organization(db)
    admin: User = await factories.user(
        db, org, role="super_admin", department=await factories.department(db, org)
    )
    late = await mc.azure_model(db, azure_stub, {"kind": "environment", "variable": "AOAI_LATE_KEY"})
    never = await mc.azure_model(db, azure_stub, {"kind": "environment", "variable": "AOAI_NEVER_KEY"})
    refused = await mc.azure_model(db, azure_stub, {"kind": "environment", "variable": "AOAI_LATE_KEY"})
    for model in (late, never):
        reason, detail = unavailable.unobtainable(
            CredentialUnavailable("the environment variable is not set")
        )
        await unavailable.make_unavailable(
            db,
            "azure-openai",
            model.model_name,
            reason=reason,
            error=detail,
            status=None,
            organization_id=org.id,
        )
    await unavailable.make_unavailable(
        db,
        "azure-openai",
        refused.model_name,
        reason="the provider refused its credential (HTTP 401)",
        error="HTTP 401: PermissionDenied",
        status=401,
        organization_id=org.id,
    )
    source = mc.credentials(settings)
    sessions = sessions_in(await db.connection())

    assert await health.probe(sessions, source) == 0  # nothing can be had yet
    monkeypatch.setenv("AOAI_LATE_KEY", "mounted-at-last")
    assert await health.probe(sessions, source) == 1
    assert await health.probe(sessions, source) == 0  # nothing left to recover

    shown = {
        model.model_name: (
            await client.get(f"/v1/providers/{model.id}", headers=bearer_for(tokens, admin))
        ).json()
        for model in (late, never, refused)
    }
    assert shown[late.model_name]["available"] is True
    assert shown[never.model_name]["unavailable_reason"].startswith(unavailable.CREDENTIAL_REASON)
    assert shown[refused.model_name]["unavailable_reason"] == "the provider refused its credential (HTTP 401)"
    assert azure_stub.requests == []  # a health check calls no provider
    events = (
        await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == "provider.available"))
    ).scalars()
    assert [e.payload["resource_id"] for e in events] == [str(late.id)]
    row = await db.get(ModelProvider, late.id, populate_existing=True)
    assert row is not None and row.last_error is not None  # the last error is kept for the record

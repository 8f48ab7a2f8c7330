"""Choosing a model: explicit requests, "auto" with user/department preferences, and fallbacks."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.config import Settings
from donatello.models import Department, Organization, ProviderConfig, UserPreference
from donatello.providers import Candidate, InProcessAvailability, candidates
from donatello.providers.credentials import ModelCredentials
from donatello.providers.errors import (
    AmbiguousModel,
    ModelUnavailable,
    NoModelAvailable,
    UnknownModelRequested,
    UnsupportedOption,
)
from tests.support import factories, provider_rows


async def catalogue(db: AsyncSession) -> dict[str, str]:
    """Three models: premium (best quality, dearest), standard, and a cheap local one."""
    await provider_rows.only_these_models(db)
    premium = await provider_rows.model(
        db, "azure-openai", price="0.0800", priority=10, endpoint="http://x/premium"
    )
    standard = await provider_rows.model(
        db, "azure-openai", price="0.0400", priority=20, endpoint="http://x/std"
    )
    cheap = await provider_rows.model(db, "local", price="0.0100", priority=90)
    return {
        "premium": f"azure-openai/{premium.model_name}",
        "standard": f"azure-openai/{standard.model_name}",
        "cheap": f"local/{cheap.model_name}",
    }


async def department_with(db: AsyncSession, **settings: object) -> Department:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    dept.settings = dict(settings)
    await db.flush()
    return dept


def names(chosen: Sequence[Candidate]) -> list[str]:
    return [c.name for c in chosen]


async def test_auto_without_preferences_follows_platform_priority_with_cheaper_fallbacks(
    db: AsyncSession,
) -> None:
    models = await catalogue(db)
    dept = await department_with(db)

    chosen = await candidates(db, dept.id, "auto", "1024x1024", "standard", 2)

    assert names(chosen) == [models["premium"], models["standard"], models["cheap"]]
    assert chosen[0].reason == "platform-priority"
    assert [c.reason for c in chosen[1:]] == ["fallback", "fallback"]
    assert chosen[0].quote.unit_price_aud == Decimal("0.0800")
    assert chosen[0].quote.total_aud == Decimal("0.1600")


async def test_auto_with_a_cost_preference_picks_the_cheapest_and_never_falls_back_to_pricier(
    db: AsyncSession,
) -> None:
    models = await catalogue(db)
    dept = await department_with(db, quality_preference="cost")

    chosen = await candidates(db, dept.id, "auto", "1024x1024", "standard", 1)

    assert names(chosen) == [models["cheap"]]
    assert chosen[0].reason == "cost-optimized"


async def test_auto_with_a_quality_preference_picks_the_best_model(db: AsyncSession) -> None:
    models = await catalogue(db)
    dept = await department_with(db, quality_preference="high")

    chosen = await candidates(db, dept.id, "auto", "1024x1024", "standard", 1)

    assert chosen[0].name == models["premium"]
    assert chosen[0].reason == "quality-focused"


async def test_auto_with_a_cost_weight_balances_price_and_quality(db: AsyncSession) -> None:
    models = await catalogue(db)
    dept = await department_with(db, cost_weight=0.6)

    chosen = await candidates(db, dept.id, "auto", "1024x1024", "standard", 1)

    # premium 0.6*1 + 0 = 0.6; standard 0.6*0.5 + 0.4*0.5 = 0.5; cheap 0.6*0.125 + 0.4 = 0.475
    assert chosen[0].name == models["cheap"]
    assert chosen[0].reason == "cost-weighted (cost_weight=0.6)"
    dept.settings = {"cost_weight": 0.3}
    await db.flush()
    again = await candidates(db, dept.id, "auto", "1024x1024", "standard", 1)
    # premium 0.3; standard 0.15 + 0.35 = 0.5; cheap 0.0375 + 0.7
    assert again[0].name == models["premium"]


async def test_the_department_default_model_wins_over_preferences(db: AsyncSession) -> None:
    models = await catalogue(db)
    dept = await department_with(db, default_model=models["standard"], quality_preference="cost")

    chosen = await candidates(db, dept.id, "auto", "1024x1024", "standard", 1)

    assert names(chosen) == [models["standard"], models["cheap"]]
    assert chosen[0].reason == f"department-default: {models['standard']}"


async def test_the_users_default_model_wins_over_the_departments(db: AsyncSession) -> None:
    models = await catalogue(db)
    dept = await department_with(db, default_model=models["standard"])
    org = await db.get(Organization, dept.organization_id)
    assert org is not None
    member = await factories.user(db, org, department=dept)
    db.add(
        UserPreference(
            organization_id=org.id,
            user_id=member.id,
            preference_key="default_model",
            preference_value=models["cheap"],
        )
    )
    await db.flush()

    chosen = await candidates(db, dept.id, "auto", "1024x1024", "standard", 1, user_id=member.id)

    assert chosen[0].name == models["cheap"]
    assert chosen[0].reason == f"user-default: {models['cheap']}"


async def test_an_explicit_model_is_used_as_asked_with_cheaper_fallbacks(db: AsyncSession) -> None:
    models = await catalogue(db)

    chosen = await candidates(db, None, models["standard"], "1536x1024", "hd", 1)
    bare = await candidates(db, None, models["standard"].split("/")[1], "1024x1024", "standard", 1)

    assert names(chosen) == [models["standard"], models["cheap"]]
    assert chosen[0].reason == "requested"
    assert bare[0].name == models["standard"]


async def test_fallbacks_are_never_pricier_than_the_choice_at_the_requested_size(db: AsyncSession) -> None:
    await provider_rows.only_these_models(db)
    wide_is_dear = await provider_rows.model(
        db, "azure-openai", price="0.0300", priority=30, size_multipliers={"1536x1024": "3"}
    )
    chosen_model = await provider_rows.model(db, "azure-openai", price="0.0500", priority=10)

    square = await candidates(db, None, f"azure-openai/{chosen_model.model_name}", "1024x1024", "standard", 1)
    wide = await candidates(db, None, f"azure-openai/{chosen_model.model_name}", "1536x1024", "standard", 1)

    assert names(square) == [
        f"azure-openai/{chosen_model.model_name}",
        f"azure-openai/{wide_is_dear.model_name}",
    ]
    assert names(wide) == [f"azure-openai/{chosen_model.model_name}"]  # 0.09 > 0.05 at 1536x1024
    for chosen in (square, wide):
        assert all(c.quote.unit_price_aud <= chosen[0].quote.unit_price_aud for c in chosen)


async def test_sizes_only_some_models_support_narrow_the_choice(db: AsyncSession) -> None:
    models = await catalogue(db)

    chosen = await candidates(db, None, "auto", "256x256", "standard", 1)

    assert names(chosen) == [models["cheap"]]  # Azure OpenAI has no 256x256
    with pytest.raises(UnsupportedOption) as caught:
        await candidates(db, None, models["premium"], "256x256", "standard", 1)
    assert caught.value.extensions["field"] == "size"


async def test_configuration_can_restrict_sizes_and_qualities(db: AsyncSession) -> None:
    await provider_rows.only_these_models(db)
    square_only = await provider_rows.model(
        db, "local", configuration={"sizes": ["1024x1024"], "qualities": ["standard"]}
    )

    with pytest.raises(UnsupportedOption) as caught:
        await candidates(db, None, f"local/{square_only.model_name}", "1024x1024", "hd", 1)

    assert caught.value.extensions["field"] == "quality"


async def test_a_price_limit_excludes_dearer_models(db: AsyncSession) -> None:
    models = await catalogue(db)

    chosen = await candidates(
        db, None, "auto", "1024x1024", "standard", 1, max_unit_price_aud=Decimal("0.0400")
    )

    assert names(chosen) == [models["standard"], models["cheap"]]
    with pytest.raises(NoModelAvailable):
        await candidates(
            db, None, models["premium"], "1024x1024", "standard", 1, max_unit_price_aud=Decimal("0.05")
        )


async def test_unknown_ambiguous_and_inactive_models_are_refused(db: AsyncSession) -> None:
    await provider_rows.only_these_models(db)
    await provider_rows.model(db, "azure-openai", name="twin-model")
    await provider_rows.model(db, "local", name="twin-model")
    retired = await provider_rows.model(db, "local", is_active=False)

    with pytest.raises(UnknownModelRequested):
        await candidates(db, None, "nobody/nothing", "1024x1024", "standard", 1)
    with pytest.raises(UnknownModelRequested):
        await candidates(db, None, f"local/{retired.model_name}", "1024x1024", "standard", 1)
    with pytest.raises(AmbiguousModel):
        await candidates(db, None, "twin-model", "1024x1024", "standard", 1)


async def test_a_paused_model_is_skipped_by_auto_and_refused_when_named(db: AsyncSession) -> None:
    models = await catalogue(db)
    availability = InProcessAvailability(threshold=2)
    provider, model_name = models["premium"].split("/")
    for _ in range(2):
        await availability.record_failure(provider, model_name)

    chosen = await candidates(db, None, "auto", "1024x1024", "standard", 1, availability=availability)

    assert models["premium"] not in names(chosen)
    assert chosen[0].name == models["standard"]
    with pytest.raises(ModelUnavailable) as caught:
        await candidates(db, None, models["premium"], "1024x1024", "standard", 1, availability=availability)
    assert int(caught.value.headers()["Retry-After"]) > 0


async def test_nothing_eligible_is_a_clear_refusal(db: AsyncSession) -> None:
    await provider_rows.only_these_models(db)

    with pytest.raises(NoModelAvailable):
        await candidates(db, None, "auto", "1024x1024", "standard", 1)


async def test_targets_carry_configuration_retries_and_resolved_credentials(
    db: AsyncSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await provider_rows.only_these_models(db)
    row = await provider_rows.model(
        db,
        "azure-openai",
        endpoint="https://acme.openai.azure.com/openai/deployments/d3",
        timeout_seconds=45,
        max_retries=5,
        configuration={"api_version": "2024-10-21"},
    )
    stored = (
        await db.execute(select(ProviderConfig).where(ProviderConfig.provider_id == row.id))
    ).scalar_one()
    stored.credential = {"kind": "environment", "variable": "ACME_OPENAI_KEY"}
    await db.flush()

    monkeypatch.setenv("ACME_OPENAI_KEY", "the-secret")

    chosen = await candidates(
        db, None, "auto", "1024x1024", "standard", 1, credentials=ModelCredentials(settings)
    )

    target = chosen[0].target
    assert (target.endpoint, target.timeout_seconds, target.max_retries) == (
        "https://acme.openai.azure.com/openai/deployments/d3",
        45.0,
        5,
    )
    assert target.configuration == {"api_version": "2024-10-21"}
    assert target.credential is not None
    assert await target.credential.headers() == {"api-key": "the-secret"}
    assert "the-secret" not in repr(target)

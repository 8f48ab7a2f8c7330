"""`donatello seed-demo`: the Acme Corporation tenant a new installation can try things with."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import demo
from donatello.models import Department, DepartmentBudget, ModelProvider, Organization, ProviderConfig, User
from donatello.providers import candidates
from donatello.providers.adapters import cannot_run


async def test_the_demo_tenant_has_departments_budgets_one_user_per_role_and_priced_providers(
    db: AsyncSession,
) -> None:
    summary = await demo.seed_in(db, "Australia/Sydney")

    org = await db.get(Organization, summary.organization_id)
    assert org is not None and (org.name, org.domain) == ("Acme Corporation", "acme.com.au")
    departments = {
        d.code: d
        for d in (await db.execute(select(Department).where(Department.organization_id == org.id))).scalars()
    }
    assert set(departments) == {"MKTG", "ENGG", "SALES"}
    budgets = (
        await db.execute(select(DepartmentBudget).where(DepartmentBudget.organization_id == org.id))
    ).scalars()
    assert {b.department_id for b in budgets} == {d.id for d in departments.values()}
    users = {
        u.email: u for u in (await db.execute(select(User).where(User.organization_id == org.id))).scalars()
    }
    for role in ("org_admin", "dept_manager", "power_user", "standard_user", "finance"):
        assert users[f"{role}@acme.com.au"].role == role
    assert all(user.role != "super_admin" for user in users.values())  # no platform admin in a tenant
    platform = (await db.execute(select(Organization).where(Organization.is_platform))).scalar_one()
    [admin] = (await db.execute(select(User).where(User.organization_id == platform.id))).scalars()
    assert (admin.email, admin.role) == ("super_admin@donatello.example", "super_admin")
    assert platform.domain == "donatello.example" and platform.id != org.id
    for role in ("dept_manager", "standard_user", "power_user"):
        assert users[f"{role}@acme.com.au"].department_id == departments["MKTG"].id
    models = (await db.execute(select(ModelProvider))).scalars().all()
    assert models and all(_priced(model) for model in models)


def _priced(model: ModelProvider) -> bool:
    """Priced per image, or per token with all three token prices."""
    if model.pricing_unit == "token":
        prices = (model.token_price_input_text, model.token_price_input_image, model.token_price_output_image)
        return all(price is not None and price > 0 for price in prices)
    return model.cost_per_image_aud is not None and model.cost_per_image_aud > 0


async def test_seeding_twice_changes_nothing(db: AsyncSession) -> None:
    first = await demo.seed_in(db, "Australia/Sydney")
    second = await demo.seed_in(db, "Australia/Sydney")
    assert second.organization_id == first.organization_id
    assert second.created == 0


async def test_the_demo_catalogue_lists_todays_models_unconfigured_beside_the_local_renderer(
    db: AsyncSession,
) -> None:
    await demo.seed_in(db, "Australia/Sydney")
    demo_models = [(row["provider_name"], row["model_name"]) for row in demo.PROVIDERS]
    await db.execute(  # only the demo's own rows count (rolled back with the test)
        update(ModelProvider)
        .where(tuple_(ModelProvider.provider_name, ModelProvider.model_name).not_in(demo_models))
        .values(is_active=False)
    )
    rows = {
        f"{model.provider_name}/{model.model_name}": (model, config)
        for model, config in (
            await db.execute(
                select(ModelProvider, ProviderConfig).outerjoin(
                    ProviderConfig, ProviderConfig.provider_id == ModelProvider.id
                )
            )
        ).all()
    }

    assert "azure-openai/dall-e-3" not in rows
    # OpenAI's list prices in USD per million tokens: input text, input image, output image
    published = {
        "gpt-image-1-mini": ("2.00", "2.50", "8.00"),
        "gpt-image-1.5": ("5.00", "8.00", "32.00"),
        "gpt-image-2": ("5.00", "8.00", "30.00"),
    }
    for name, prices in published.items():
        model, config = rows[f"azure-openai/{name}"]
        assert config is not None and config.configuration == {"family": "gpt-image"}
        assert config.credential is None
        assert cannot_run(model, config) is not None  # offered once an administrator adds its credential
        assert (model.pricing_unit, model.pricing_currency, model.cost_per_image_aud) == (
            "token",
            "USD",
            None,
        )
        assert (
            model.token_price_input_text,
            model.token_price_input_image,
            model.token_price_output_image,
        ) == tuple(Decimal(price) for price in prices)
    # until then the local renderer makes what is asked, at today's sizes too
    [chosen, *_] = await candidates(db, None, "auto", "1536x1024", "high", 1)
    assert chosen.name == "local/pillow-sketch"

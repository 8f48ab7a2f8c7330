"""The demo tenant: "Acme Corporation" (acme.com.au) with three departments, budgets, one user per tenant
role (``<role>@acme.com.au``) and priced providers; and the platform's own organization, "DonatelloAI
Platform" (donatello.example), holding the platform administrator ``super_admin@donatello.example`` —
outside every tenant, so no tenant credential can reach it. Idempotent: running it again changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.auth.tokens import ACCESS_TOKEN_LIFETIME, TokenSigner
from donatello.core.clock import utcnow
from donatello.models import (
    Department,
    DepartmentBudget,
    FxRate,
    ModelProvider,
    Organization,
    ProviderConfig,
    User,
)
from donatello.sessions import service as sessions

ORGANIZATION = {"name": "Acme Corporation", "domain": "acme.com.au"}
PLATFORM = {"name": "DonatelloAI Platform", "domain": "donatello.example", "is_platform": True}
DEPARTMENTS = [
    ("MKTG", "Marketing", Decimal("5000.00"), "hard"),
    ("ENGG", "Engineering", Decimal("8000.00"), "soft"),
    ("SALES", "Sales", Decimal("2500.00"), "warn"),
]
# role -> department code (None: organization-wide)
USERS: dict[str, str | None] = {
    "org_admin": None,
    "finance": None,
    "dept_manager": "MKTG",
    "power_user": "MKTG",
    "standard_user": "MKTG",
}
# A demo rate only: operators load real rates (source and date) before pricing USD models.
USD_AUD = Decimal("1.52000000")
USD_AUD_SOURCE = "demo (RBA indicative)"

# Today's Azure OpenAI image models (the gpt-image family), billed by tokens: held at the most a request
# can cost, charged what the response's ``usage`` says. Seeded without a credential, so they are not
# offered until an administrator gives each its deployment's endpoint and credential; until then the
# local renderer, which needs nothing, makes every image. Prices are OpenAI's published list prices in
# USD per million tokens (input text, input image, output image), read in December 2026 — not a quotation:
# load your agreement's prices (Azure's may differ) before relying on them.
GPT_IMAGE_MODELS: tuple[tuple[str, tuple[str, str, str], int], ...] = (
    # developers.openai.com/api/docs/models/gpt-image-1-mini: text $2.00, image in $2.50, image out $8.00
    ("gpt-image-1-mini", ("2.00", "2.50", "8.00"), 10),
    # OpenAI's gpt-image-1.5 model and pricing pages: text $5.00, image in $8.00, image out $32.00
    ("gpt-image-1.5", ("5.00", "8.00", "32.00"), 20),
    # OpenAI's gpt-image-2 model page (snapshot gpt-image-2-2026-04-21): text $5.00, image in $8.00,
    # image out $30.00
    ("gpt-image-2", ("5.00", "8.00", "30.00"), 30),
)
PROVIDERS: list[dict[str, Any]] = [
    *(
        {
            "provider_name": "azure-openai",
            "model_name": model,
            "api_endpoint": f"https://acme-openai.openai.azure.com/openai/deployments/{model}",
            "cost_per_image_aud": None,
            "pricing_currency": "USD",
            "pricing_unit": "token",
            "token_price_input_text": Decimal(text),
            "token_price_input_image": Decimal(image_in),
            "token_price_output_image": Decimal(image_out),
            "priority": priority,
            "timeout_seconds": 180,
        }
        for model, (text, image_in, image_out), priority in GPT_IMAGE_MODELS
    ),
    {
        "provider_name": "stability",
        "model_name": "sd3-medium",
        "api_endpoint": "https://api.stability.ai/v2beta/stable-image/generate/sd3",
        "cost_per_image_aud": Decimal("0.0531"),
        "pricing_currency": "USD",
        "cost_per_image": Decimal("0.0350"),
        "priority": 40,
        "sla_percentage": 99.5,
    },
    {
        "provider_name": "local",
        "model_name": "pillow-sketch",
        "api_endpoint": "local://pillow",
        "cost_per_image_aud": Decimal("0.0100"),
        "priority": 90,
    },
]
#: provider/model -> the configuration it is seeded with (no credential: an administrator adds it)
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    f"azure-openai/{model}": {"family": "gpt-image"} for model, _, _ in GPT_IMAGE_MODELS
}


@dataclass
class SeedSummary:
    organization_id: uuid.UUID
    created: int

    def __str__(self) -> str:
        state = f"created {self.created} rows" if self.created else "already present"
        return f"demo tenant Acme Corporation ({self.organization_id}): {state}"


def current_month(timezone: str) -> tuple[date, date]:
    today = utcnow().astimezone(ZoneInfo(timezone)).date()
    start = today.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return start, end


async def _organization(session: AsyncSession, values: dict[str, Any], timezone: str) -> Organization | None:
    """The organization with ``values``' domain, created when missing (None: it was already there)."""
    found = (
        await session.execute(select(Organization).where(Organization.domain == values["domain"]))
    ).scalar_one_or_none()
    if found is not None:
        return None
    org = Organization(**values, settings={"timezone": timezone, "locale": "en-AU"})
    session.add(org)
    await session.flush()
    await audit.record_event(
        session,
        "organization.created",
        action="organization_created",
        resource=("organization", org.id),
        organization_id=org.id,
        details={"source": "seed-demo"},
    )
    return org


async def _platform_admin(session: AsyncSession, timezone: str) -> int:
    """The platform organization and its administrator, bound by the platform (its Entra object id is
    set here, never claimed by an address a tenant's directory controls)."""
    created = 0
    if await _organization(session, PLATFORM, timezone) is not None:
        created += 1
    platform = (
        await session.execute(select(Organization).where(Organization.domain == PLATFORM["domain"]))
    ).scalar_one()
    email = f"super_admin@{PLATFORM['domain']}"
    if (await session.execute(select(User.id).where(User.email == email))).first() is None:
        session.add(
            User(
                organization_id=platform.id,
                azure_ad_id="demo-super_admin",
                email=email,
                display_name="Super Admin",
                role="super_admin",
                mfa_enabled=True,
            )
        )
        created += 1
    return created


async def seed_in(session: AsyncSession, timezone: str) -> SeedSummary:
    created = await _platform_admin(session, timezone)
    if await _organization(session, ORGANIZATION, timezone) is not None:
        created += 1
    org = (
        await session.execute(select(Organization).where(Organization.domain == ORGANIZATION["domain"]))
    ).scalar_one()

    period_start, period_end = current_month(timezone)
    departments: dict[str, Department] = {}
    for code, name, budget, mode in DEPARTMENTS:
        department = (
            await session.execute(
                select(Department).where(Department.organization_id == org.id, Department.code == code)
            )
        ).scalar_one_or_none()
        if department is None:
            department = Department(organization_id=org.id, code=code, name=name)
            session.add(department)
            await session.flush()
            session.add(
                DepartmentBudget(
                    organization_id=org.id,
                    department_id=department.id,
                    monthly_budget_aud=budget,
                    budget_period_start=period_start,
                    budget_period_end=period_end,
                    enforcement_mode=mode,
                )
            )
            created += 2
        departments[code] = department

    for role, home in USERS.items():
        email = f"{role}@acme.com.au"
        if (await session.execute(select(User.id).where(User.email == email))).first() is None:
            session.add(
                User(
                    organization_id=org.id,
                    department_id=departments[home].id if home else None,
                    azure_ad_id=f"demo-{role}",
                    email=email,
                    display_name=role.replace("_", " ").title(),
                    role=role,
                    mfa_enabled=True,
                )
            )
            created += 1

    for provider in PROVIDERS:
        inserted = (
            await session.execute(
                insert(ModelProvider)
                .values(**provider)
                .on_conflict_do_nothing(constraint="uq_provider_model")
                .returning(ModelProvider.id)
            )
        ).scalar_one_or_none()
        configuration = CONFIGURATIONS.get(f"{provider['provider_name']}/{provider['model_name']}")
        if inserted is not None and configuration is not None:
            session.add(ProviderConfig(provider_id=inserted, configuration=configuration))
        created += inserted is not None
    rate = await session.execute(
        insert(FxRate)
        .values(
            base_currency="USD",
            quote_currency="AUD",
            rate=USD_AUD,
            source=USD_AUD_SOURCE,
            effective_date=period_start,
        )
        .on_conflict_do_nothing(constraint="uq_fx_rates_pair_date")
        .returning(FxRate.id)
    )
    created += len(rate.all())
    await session.flush()
    return SeedSummary(organization_id=org.id, created=created)


async def access_token_for(
    session: AsyncSession, signer: TokenSigner, email: str, lifetime: timedelta | None = None
) -> str:
    """An access token for an existing, active user of an active organization (for operators)."""
    found = (
        await session.execute(
            select(User)
            .join(Organization, Organization.id == User.organization_id)
            .where(
                User.email == email.lower(),
                User.deleted_at.is_(None),
                User.is_active.is_(True),
                Organization.is_active.is_(True),
            )
            .limit(2)
        )
    ).scalars()
    users = list(found)
    if not users:
        raise SystemExit(f"no active user with email {email}")
    if len(users) > 1:  # e-mail addresses are unique within an organization, not across them
        raise SystemExit(f"more than one organization has an active user with email {email}")
    user = users[0]
    return await sessions.operator_token(
        session, signer, user.id, user.organization_id, lifetime or ACCESS_TOKEN_LIFETIME
    )

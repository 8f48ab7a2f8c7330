"""Typed factories for the rows most tests need. Each flushes and returns the persisted model."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets.periods import period_at
from donatello.models import Department, DepartmentBudget, Organization, User


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def unique(prefix: str) -> str:
    """A name no other test uses (containers, blob keys, file names)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def organization(
    db: AsyncSession,
    *,
    name: str | None = None,
    is_active: bool = True,
    azure_tenant_id: str | None = None,
    entra: dict[str, Any] | None = None,
    domain: str | None = None,
    email_domains: list[str] | None = None,
    is_platform: bool = False,
) -> Organization:
    """``domain``: the primary e-mail domain (unique per test run by default); ``example.com`` for a
    tenant whose people sign in with the loopback identity provider's default addresses."""
    tag = _tag()
    org = Organization(
        name=name or f"Org {tag}",
        domain=domain or f"org-{tag}.com.au",
        email_domains=email_domains or [],
        is_platform=is_platform,
        is_active=is_active,
        azure_tenant_id=azure_tenant_id,
        settings={"timezone": "Australia/Sydney", **({"entra": entra} if entra else {})},
    )
    db.add(org)
    await db.flush()
    return org


async def department(db: AsyncSession, org: Organization, *, code: str | None = None) -> Department:
    dept = Department(
        organization_id=org.id, name=f"Department {code or _tag()}", code=code or _tag().upper()
    )
    db.add(dept)
    await db.flush()
    return dept


async def user(
    db: AsyncSession,
    org: Organization,
    *,
    role: str = "standard_user",
    department: Department | None = None,
    is_active: bool = True,
    mfa_enabled: bool = True,
    azure_ad_id: str | None = None,
) -> User:
    tag = _tag()
    member = User(
        organization_id=org.id,
        department_id=department.id if department else None,
        azure_ad_id=azure_ad_id or f"oid-{tag}",
        email=f"{role}.{tag}@{org.domain}",
        display_name=f"{role} {tag}",
        role=role,
        is_active=is_active,
        mfa_enabled=mfa_enabled,
    )
    db.add(member)
    await db.flush()
    return member


async def budget(
    db: AsyncSession,
    dept: Department,
    *,
    monthly_aud: str = "1000.00",
    mode: str = "hard",
    period: tuple[date, date] | None = None,
) -> DepartmentBudget:
    """A budget for ``dept``; its stored period is the current month in Sydney unless given."""
    if period is None:
        current = period_at(datetime.now(UTC), "Australia/Sydney")
        period = (current.start, current.end)
    row = DepartmentBudget(
        organization_id=dept.organization_id,
        department_id=dept.id,
        monthly_budget_aud=Decimal(monthly_aud),
        budget_period_start=period[0],
        budget_period_end=period[1],
        enforcement_mode=mode,
    )
    db.add(row)
    await db.flush()
    return row


class _TenantRow(Protocol):
    """A row of a tenant-owned table: its table's name and its id."""

    __tablename__: str

    @property
    def id(self) -> uuid.UUID | int: ...


async def tenant_world(db: AsyncSession, org: Organization) -> dict[str, uuid.UUID | int]:
    """One row in every tenant-owned table for ``org``; returns each table's row id."""
    from datetime import time, timedelta

    from donatello.models import (
        ApiKey,
        AuditOutbox,
        BudgetDecisionCount,
        BudgetIncreaseRequest,
        BudgetReservation,
        BudgetThresholdAlert,
        CostDailyRollup,
        CostEvent,
        DepartmentBudgetPeriod,
        ExportJob,
        ExportSchedule,
        ExportScheduleRun,
        Generation,
        GenerationBatch,
        GenerationMetadata,
        Notification,
        ProviderCall,
        ProvisioningToken,
        Reconciliation,
        ReconciliationLine,
        ReconciliationRow,
        ScimGroup,
        ScimGroupMember,
        UserPreference,
        UserSession,
        Webhook,
        WebhookDelivery,
    )

    dept = await department(db, org)
    member = await user(db, org, department=dept)
    spend = await budget(db, dept)
    now = datetime.now(UTC)
    batch = GenerationBatch(
        organization_id=org.id,
        user_id=member.id,
        department_id=dept.id,
        request_fingerprint="0" * 64,
        total=1,
    )
    db.add(batch)
    await db.flush()
    generation = Generation(
        batch_id=batch.id,
        organization_id=org.id,
        user_id=member.id,
        department_id=dept.id,
        model_provider="local",
        model_name="pillow-sketch",
        prompt_encrypted="sealed",
    )
    db.add(generation)
    await db.flush()
    rows: list[_TenantRow] = [
        UserSession(
            organization_id=org.id,
            user_id=member.id,
            family_id=uuid.uuid4(),
            refresh_token_hash=uuid.uuid4().hex,
            expires_at=now + timedelta(days=7),
        ),
        UserPreference(
            organization_id=org.id, user_id=member.id, preference_key="theme", preference_value="dark"
        ),
        DepartmentBudgetPeriod(
            organization_id=org.id,
            department_id=dept.id,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
            monthly_budget_aud=Decimal("100.00"),
            spent_aud=Decimal("12.3400"),
            reserved_at_close_aud=Decimal("0"),
            enforcement_mode="hard",
            closed_at=now,
        ),
        BudgetThresholdAlert(
            organization_id=org.id,
            department_id=dept.id,
            period_start=date(2026, 11, 1),
            threshold_percent=50,
            crossed_at=now,
            spent_aud=Decimal("500.0000"),
            budget_aud=Decimal("1000.00"),
        ),
        GenerationMetadata(organization_id=org.id, generation_id=generation.id),
        ProviderCall(
            organization_id=org.id, generation_id=generation.id, attempt=1, model="local/pillow-sketch"
        ),
        BudgetDecisionCount(
            organization_id=org.id, department_id=dept.id, period_start=date(2026, 11, 1), refused=1
        ),
        BudgetReservation(
            organization_id=org.id,
            department_id=dept.id,
            user_id=member.id,
            generation_id=generation.id,
            amount_aud=Decimal("0.0100"),
            period_start=date(2026, 11, 1),
            expires_at=now + timedelta(minutes=15),
        ),
        CostEvent(
            organization_id=org.id,
            generation_id=generation.id,
            department_id=dept.id,
            user_id=member.id,
            model_provider="local",
            model_name="pillow-sketch",
            estimated_cost_aud=Decimal("0.0100"),
            actual_cost_aud=Decimal("0.0100"),
            department_code=dept.code,
            department_name=dept.name,
            user_email=member.email,
        ),
        ApiKey(
            organization_id=org.id,
            user_id=member.id,
            key_name="ci",
            key_hash=uuid.uuid4().hex,
            key_prefix="dnt_abcd",
        ),
        Webhook(
            organization_id=org.id,
            user_id=member.id,
            webhook_url="https://hooks.example.com/donatello",
            secret_hash="sealed-secret",
        ),
        CostDailyRollup(
            organization_id=org.id,
            department_id=dept.id,
            user_id=member.id,
            provider="local",
            model="pillow-sketch",
            day=date(2026, 11, 2),
            department_code=dept.code,
            department_name=dept.name,
            user_email=member.email,
        ),
        ExportJob(
            organization_id=org.id,
            requested_by=member.id,
            range_from=now - timedelta(days=1),
            range_to=now,
            format="csv",
        ),
        AuditOutbox(
            event_id=uuid.uuid4(),
            organization_id=org.id,
            user_id=member.id,
            event_type="test.event",
            payload={},
        ),
    ]
    db.add_all(rows)
    await db.flush()
    hook = next(row for row in rows if isinstance(row, Webhook))
    delivery = WebhookDelivery(
        organization_id=org.id,
        webhook_id=hook.id,
        event_id=uuid.uuid4(),
        event_type="webhook.ping",
        body="{}",
    )
    db.add(delivery)
    group = ScimGroup(organization_id=org.id, display_name="Marketing", external_id=str(uuid.uuid4()))
    db.add(group)
    await db.flush()
    membership = ScimGroupMember(organization_id=org.id, group_id=group.id, user_id=member.id)
    scim_token = ProvisioningToken(
        organization_id=org.id, token_hash=uuid.uuid4().hex, token_prefix="dsp_abcd"
    )
    ask = BudgetIncreaseRequest(
        organization_id=org.id,
        department_id=dept.id,
        requested_by=member.id,
        subject="department",
        scope="this_period",
        amount_aud=Decimal("10.00"),
        reason="campaign",
        period_start=spend.budget_period_start,
    )
    schedule = ExportSchedule(
        organization_id=org.id,
        name="daily",
        format="csv",
        daily_at=time(2, 0),
        daily=True,
        month_to_date=False,
    )
    db.add_all([membership, scim_token, ask, schedule])
    await db.flush()
    run = ExportScheduleRun(
        organization_id=org.id,
        schedule_id=schedule.id,
        kind="daily",
        range_from=now - timedelta(days=1),
        range_to=now,
        next_attempt_at=now,
    )
    db.add(run)
    await db.flush()
    rows.extend([delivery, group, membership, scim_token, ask, schedule, run])
    reconciliation = Reconciliation(
        organization_id=org.id,
        requested_by=member.id,
        provider="azure-openai",
        format="focus",
        file_name="bill.csv",
        file_bytes=1,
        content_sha256=uuid.uuid4().hex * 2,
        config_sha256="0" * 64,
    )
    db.add(reconciliation)
    await db.flush()
    for part in (
        ReconciliationLine(
            organization_id=org.id,
            reconciliation_id=reconciliation.id,
            day=date(2026, 11, 2),
            source_key="meter",
            status="unmapped",
            currency="USD",
            cost=Decimal("1.00"),
            line_count=1,
        ),
        ReconciliationRow(
            organization_id=org.id,
            reconciliation_id=reconciliation.id,
            day=date(2026, 11, 2),
            provider_name="local",
            model_name="pillow-sketch",
            provider_aud=Decimal("1.00"),
            charged_aud=Decimal("1.00"),
            charged_images=1,
            drift_aud=Decimal(0),
            flagged=False,
        ),
    ):
        db.add(part)
        rows.append(part)
    rows.append(reconciliation)
    told = Notification(
        organization_id=org.id,
        user_id=member.id,
        event_id=uuid.uuid4(),
        kind="export_ready",
        title="Your cost export is ready",
        body="ready",
    )
    db.add(told)
    rows.append(told)
    await db.flush()
    ids: dict[str, uuid.UUID | int] = {
        "departments": dept.id,
        "users": member.id,
        "department_budgets": spend.id,
        "generations": generation.id,
        "generation_batches": batch.id,
    }
    for row in rows:
        ids[row.__tablename__] = row.id
    return ids


async def colleague(
    db: AsyncSession, member: User, *, role: str = "standard_user", same_department: bool = True
) -> User:
    """Another user in ``member``'s organization (and department, unless said otherwise)."""
    org = await db.get(Organization, member.organization_id)
    dept = (
        await db.get(Department, member.department_id) if same_department and member.department_id else None
    )
    assert org is not None
    return await user(db, org, role=role, department=dept)

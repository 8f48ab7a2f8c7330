from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from donatello.core.money import BUDGET_COLUMN, LEDGER_COLUMN, Money

EnforcementMode = Literal["hard", "soft", "warn"]
BudgetAmount = Annotated[
    Decimal, Field(ge=0, le=BUDGET_COLUMN.maximum, decimal_places=2, description="AUD, whole cents")
]
Thresholds = Annotated[
    list[int], Field(min_length=0, max_length=10, description="Percentages, e.g. [50, 80, 100]")
]


def _valid_thresholds(values: list[int] | None) -> list[int] | None:
    if values is None:
        return None
    if any(not 1 <= value <= 1000 for value in values):
        raise ValueError("each threshold is a percentage between 1 and 1000")
    return sorted(set(values))


class BudgetSet(BaseModel):
    """Create or replace a department's budget (org admin)."""

    model_config = ConfigDict(extra="forbid")

    monthly_budget_aud: BudgetAmount
    enforcement_mode: EnforcementMode = "hard"
    alert_thresholds: Thresholds = Field(default_factory=lambda: [50, 80, 100])
    per_user_monthly_cap_aud: BudgetAmount | None = None

    _thresholds = field_validator("alert_thresholds")(_valid_thresholds)


class BudgetChange(BaseModel):
    """Change some settings; department managers may change alert thresholds and the per-user cap."""

    model_config = ConfigDict(extra="forbid")

    monthly_budget_aud: BudgetAmount | None = None
    enforcement_mode: EnforcementMode | None = None
    alert_thresholds: Thresholds | None = None
    per_user_monthly_cap_aud: BudgetAmount | None = None

    _thresholds = field_validator("alert_thresholds")(_valid_thresholds)


class BudgetStatus(BaseModel):
    department_id: uuid.UUID
    department_code: str
    period_start: date
    period_end: date
    timezone: str
    enforcement_mode: EnforcementMode
    monthly_budget_aud: Money
    period_top_up_aud: Money = Field(description="Approved top-ups for this period only")
    period_budget_aud: Money = Field(description="What this period may spend: monthly + top-ups")
    spent_aud: Money
    reserved_aud: Money
    available_aud: Money
    utilization_percent: Money
    alert_thresholds: list[int]
    thresholds_crossed: list[int]
    per_user_monthly_cap_aud: Money | None


class ClosedPeriod(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    period_start: date
    period_end: date
    monthly_budget_aud: Money
    top_up_aud: Money
    spent_aud: Money
    reserved_at_close_aud: Money
    enforcement_mode: EnforcementMode
    closed_at: datetime | None


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["refund", "correction"]
    amount_aud: Annotated[
        Decimal,
        Field(
            ge=-LEDGER_COLUMN.maximum,
            le=LEDGER_COLUMN.maximum,
            decimal_places=4,
            description="refund: > 0 given back",
        ),
    ]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CostEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    generation_id: uuid.UUID
    department_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    corrects_event_id: uuid.UUID | None
    estimated_cost_aud: Money
    actual_cost_aud: Money
    currency: str
    created_at: datetime


RequestScope = Literal["this_period", "permanent"]
RequestAmount = Annotated[
    Decimal,
    Field(
        gt=0,
        le=BUDGET_COLUMN.maximum,
        decimal_places=2,
        description="AUD, whole cents, as a decimal string; the budget it raises must stay within"
        f" {BUDGET_COLUMN.maximum} AUD",
    ),
]


class IncreaseRequestCreate(BaseModel):
    """Ask for more budget. A department manager (or org admin) asks for the department; anyone else asks
    straight from a refusal, quoting its ``refusal_id`` (in the 402 problem body)."""

    model_config = ConfigDict(extra="forbid")

    amount_aud: RequestAmount
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    scope: RequestScope = "this_period"
    refusal_id: uuid.UUID | None = Field(
        default=None,
        description="The refusal this request answers (required unless you manage the department)",
    )


class IncreaseDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "declined"]
    amount_aud: RequestAmount | None = Field(
        default=None, description="Approve less than asked (at most the amount asked); default: in full"
    )
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class IncreaseRequestRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    department_id: uuid.UUID
    requested_by: uuid.UUID
    subject: Literal["department", "user_cap"]
    scope: RequestScope
    amount_aud: Money
    reason: str
    refusal_id: uuid.UUID | None = Field(validation_alias="refusal_event_id")
    period_start: date
    status: Literal["open", "approved", "declined", "expired"]
    approved_amount_aud: Money | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime

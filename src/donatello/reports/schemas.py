"""Report shapes. Money is ``Money`` (Decimal, a string in JSON), never float."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field

from donatello.core.money import Money


class Totals(BaseModel):
    net_aud: Money
    charges_aud: Money
    refunds_aud: Money
    corrections_aud: Money
    images: int
    events: int


class PeriodSummary(BaseModel):
    department_id: uuid.UUID
    department_code: str
    department_name: str
    period_start: date
    period_end: date
    timezone: str
    budget_aud: Money | None = Field(description="The period's budget: the monthly amount plus top-ups")
    base_budget_aud: Money | None = Field(description="The monthly amount alone")
    top_up_aud: Money = Field(description="Top-ups approved for this period only")
    totals: Totals
    utilization_percent: Money | None
    refused_requests: int
    over_budget_requests: int
    over_budget_charges: int


class CurrentStatus(PeriodSummary):
    enforcement_mode: str | None
    reserved_aud: Money | None
    available_aud: Money | None


class BurnDownDay(BaseModel):
    day: date
    spent_aud: Money
    cumulative_aud: Money
    budget_aud: Money | None = Field(
        description="The period's budget as of this day: a change or a top-up steps it on the day it was made"
    )
    budget_line_aud: Money | None = Field(
        description="An even pace to the period's end: this day's share of the budget as of this day"
    )


class BurnDown(BaseModel):
    department_id: uuid.UUID
    department_code: str
    period_start: date
    period_end: date
    budget_aud: Money | None
    spent_aud: Money
    days_elapsed: int
    days_in_period: int
    forecast_straight_line_aud: Money
    forecast_trailing_7_day_aud: Money
    projected_over_under_straight_line_aud: Money | None
    projected_over_under_trailing_7_day_aud: Money | None
    days: list[BurnDownDay]


class SpendRow(BaseModel):
    key: str
    label: str
    net_aud: Money
    charges_aud: Money
    refunds_aud: Money
    corrections_aud: Money
    images: int
    events: int


class SpendTable(BaseModel):
    department_id: uuid.UUID
    department_code: str
    period_start: date
    period_end: date
    group_by: str
    rows: list[SpendRow]
    total_aud: Money


class CostCentreSpend(BaseModel):
    organization_id: uuid.UUID
    organization_domain: str
    period_start: date
    period_end: date
    rows: list[SpendRow]  # by net spend, largest first; key "" is spend without a cost centre
    total_aud: Money


class PeriodComparison(BaseModel):
    department_id: uuid.UUID
    department_code: str
    periods: list[PeriodSummary]  # newest first


class OrganizationRollup(BaseModel):
    organization_id: uuid.UUID
    organization_domain: str
    period_start: date
    period_end: date
    departments: list[PeriodSummary]  # by utilization, highest first (no budget last)
    total_aud: Money

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from donatello.core.money import Money


class ReconciliationRead(BaseModel):
    """An import and its comparison's summary (figures are AUD; none until the comparison is done)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    provider: str
    format: str
    file_name: str
    file_bytes: int
    content_sha256: str
    config: dict[str, Any]
    period_from: date | None
    period_to: date | None
    rows_read: int
    provider_total_aud: Money | None
    charged_total_aud: Money | None
    drift_total_aud: Money | None
    compared_rows: int
    flagged_rows: int
    unmapped_lines: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ComparedRow(BaseModel):
    """One local day x model: the provider's cost converted to AUD against our net charge."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    provider_name: str
    model_name: str
    provider_aud: Money
    charged_aud: Money
    drift_aud: Money
    drift_percent: Money | None
    provider_quantity: Money | None
    charged_images: int
    flagged: bool


class ProviderLine(BaseModel):
    """A provider line (daily total per mapping key and currency) and the FX rate that converted it."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    source_key: str
    status: str
    provider_name: str | None
    model_name: str | None
    currency: str
    cost: Money
    quantity: Money | None
    line_count: int
    fx_rate: Money | None
    fx_rate_date: date | None
    fx_rate_source: str | None
    cost_aud: Money | None


class ReconciliationDetail(BaseModel):
    reconciliation: ReconciliationRead
    rows: list[ComparedRow]
    next_cursor: str | None = None


class ProviderLinePage(BaseModel):
    items: list[ProviderLine]
    next_cursor: str | None = None


class ReconciliationSettings(BaseModel):
    """How this organization's provider lines map to our models, and what drift is tolerated."""

    mappings: dict[str, str] = Field(
        default_factory=dict,
        description='Deployment ("resource/meter"), meter, resource name or id -> "provider/model"',
        examples=[{"DALL-E-3 Standard 1024*1024 Images": "azure-openai/dall-e-3"}],
    )
    tolerance_aud: Money = Field(default=Decimal("1.00"), ge=0, max_digits=12, decimal_places=2)
    tolerance_percent: Money = Field(default=Decimal("2"), ge=0, max_digits=6, decimal_places=2)


def decimal_text(value: Decimal | None) -> str:
    return "" if value is None else str(value)

"""Export job shapes. Money is ``Money`` (Decimal, a string in JSON), never float."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from donatello.core.money import Money


class ExportJobRead(BaseModel):
    id: uuid.UUID
    status: str
    format: str
    focus_version: str | None  # the FOCUS version of a FOCUS export
    range_from: datetime
    range_to: datetime
    department_id: uuid.UUID | None
    rows_estimate: int
    rows_written: int
    progress_percent: Money
    download_url: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


#: A local time of day, HH:MM (24-hour).
LOCAL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class ExportScheduleCreate(BaseModel):
    """A cost export dropped into storage every day at a local time."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Names the schedule's folder in the drop")
    format: Literal["focus", "focus-csv", "csv", "parquet"] = "focus"
    focus_version: Literal["1.2", "1.3"] | None = Field(
        default=None, description="For the FOCUS formats: 1.2 (default) or 1.3"
    )
    daily_at: str = Field(
        default="02:00", pattern=LOCAL_TIME, description="HH:MM, local time of day (the organization's zone)"
    )
    daily: bool = Field(default=True, description="Write the previous day's file")
    month_to_date: bool = Field(
        default=True, description="Write the month so far (and the closed month again after it ends)"
    )


class ExportScheduleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class ExportRunRead(BaseModel):
    id: uuid.UUID
    kind: str
    range_from: datetime
    range_to: datetime
    status: str
    attempts: int
    next_attempt_at: datetime
    path: str | None
    rows_written: int
    error: str | None
    finished_at: datetime | None


class ExportScheduleRead(BaseModel):
    id: uuid.UUID
    name: str
    format: str
    focus_version: str | None
    daily_at: str = Field(description="HH:MM, local time of day in ``timezone``")
    timezone: str
    daily: bool
    month_to_date: bool
    enabled: bool
    container: str = Field(description="The storage container files are dropped into")
    created_at: datetime
    runs: list[ExportRunRead] = Field(description="The latest runs, newest first")

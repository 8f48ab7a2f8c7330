"""Export job shapes. Money is ``Money`` (Decimal, a string in JSON), never float."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

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

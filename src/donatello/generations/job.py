"""A claimed generation as the worker sees it: plain values read while the claim's transaction was open,
so nothing after the claim touches an ORM row outside a transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from donatello.models import Generation


@dataclass(frozen=True)
class Job:
    """What the worker needs of a claimed generation, read while the claim's transaction was open."""

    id: uuid.UUID
    organization_id: uuid.UUID
    department_id: uuid.UUID
    user_id: uuid.UUID
    provider: str
    model: str
    size: str
    quality: str
    n: int
    prompt_envelope: str
    details: dict[str, Any]
    reserved_aud: Decimal
    attempts: int
    created_at: datetime

    @classmethod
    def of(cls, row: Generation) -> Job:
        return cls(
            row.id,
            row.organization_id,
            row.department_id,
            row.user_id,
            row.model_provider,
            row.model_name,
            row.size,
            row.quality,
            row.n,
            row.prompt_encrypted,
            dict(row.details),
            row.reservation_aud,
            row.attempts,
            row.created_at,
        )

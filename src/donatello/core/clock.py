"""Time: always aware, always UTC inside the system; zones only at the edges (periods, reports)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


#: An instant a client sends (a body field or a query parameter): ISO 8601 with its UTC offset (``Z`` or
#: ``±HH:MM``), held as UTC. A datetime without an offset, or a bare date, is refused with 422: which
#: zone it meant cannot be known, and guessing moves an expiry by hours. (Report and export ranges are
#: different: their ``from``/``to`` are local days in the organization's zone, see ``budgets.periods``.)
Instant = Annotated[
    AwareDatetime,
    AfterValidator(lambda moment: moment.astimezone(UTC)),
    Field(description="An ISO 8601 instant with its UTC offset, e.g. 2026-12-31T23:00:00Z"),
]

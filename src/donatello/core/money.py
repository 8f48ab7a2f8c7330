"""Money is Decimal, rounded once at a named place with a named rule."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import PlainSerializer

CENT = Decimal("0.01")
TEN_THOUSANDTH = Decimal("0.0001")


def to_cents(amount: Decimal) -> Decimal:
    """Budgets and reports: whole cents, banker's rounding."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def to_ledger_precision(amount: Decimal) -> Decimal:
    """Prices and cost events: four decimal places (the ledger's NUMERIC scale)."""
    return amount.quantize(TEN_THOUSANDTH, rounding=ROUND_HALF_EVEN)


def hold_at_ledger_precision(amount: Decimal) -> Decimal:
    """The most a request can cost, at the ledger's four places, rounded up: a budget hold is never less
    than the charge it stands for."""
    return amount.quantize(TEN_THOUSANDTH, rounding=ROUND_CEILING)


#: A Decimal that travels as a string in JSON, never as a float.
Money = Annotated[Decimal, PlainSerializer(lambda value: str(value), return_type=str, when_used="json")]

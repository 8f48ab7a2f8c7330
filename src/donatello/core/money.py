"""Money is Decimal, rounded once at a named place with a named rule."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import PlainSerializer

from donatello.core.errors import DomainError

CENT = Decimal("0.01")
TEN_THOUSANDTH = Decimal("0.0001")


def to_cents(amount: Decimal) -> Decimal:
    """Budgets and reports: whole cents, banker's rounding."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def to_ledger_precision(amount: Decimal) -> Decimal:
    """Prices and cost events: four decimal places (the ledger's NUMERIC scale)."""
    return amount.quantize(TEN_THOUSANDTH, rounding=ROUND_HALF_EVEN)


#: How each currency is written for people; AUD, the currency of every budget and charge, is A$.
SYMBOLS = {"AUD": "A$", "USD": "US$", "EUR": "€", "GBP": "£"}


def written(amount: Decimal | str | int, *, exact: bool = False, currency: str = "AUD") -> str:
    """Money as people read it, the one way pages and messages write it:

    * a total (a budget, a spend, a forecast) to the cent, half up as a statement rounds: A$1,234.50 —
      the ledger keeps four places, and A$66.9669 on a budget reads like a fault;
    * ``exact``: a price or one request's cost as it is, cents at least and no trailing zeros past them
      (A$0.0531, A$0.015, A$0.05) — rounding a price would misstate it.
    """
    value = Decimal(str(amount))
    places = 2
    if exact:
        exponent = value.normalize().as_tuple().exponent
        places = max(2, -exponent) if isinstance(exponent, int) else 2
    else:
        value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, f'{currency} ')}{abs(value):,.{places}f}"


def hold_at_ledger_precision(amount: Decimal) -> Decimal:
    """The most a request can cost, at the ledger's four places, rounded up: a budget hold is never less
    than the charge it stands for."""
    return amount.quantize(TEN_THOUSANDTH, rounding=ROUND_CEILING)


#: A Decimal that travels as a string in JSON, never as a float.
Money = Annotated[Decimal, PlainSerializer(lambda value: str(value), return_type=str, when_used="json")]


@dataclass(frozen=True)
class MoneyColumn:
    """A NUMERIC(precision, scale) money column: what the largest amount it can hold is."""

    precision: int
    scale: int

    @property
    def maximum(self) -> Decimal:
        return Decimal(10 ** (self.precision - self.scale)) - Decimal(1).scaleb(-self.scale)


#: One declared maximum per kind of money column (``models.base`` declares the same NUMERIC types).
BUDGET_COLUMN = MoneyColumn(12, 2)  # budgets, top-ups, per-user caps, requests for more
LEDGER_COLUMN = MoneyColumn(14, 4)  # cost events and per-image prices
SPEND_COLUMN = MoneyColumn(12, 4)  # accrued spend and reservations


class AmountTooLarge(DomainError):
    """An amount, or the total it would make, larger than its column can hold: refused when asked,
    so that nothing can fail later (an approval, a period's close) for a sum too large to store."""

    status = 422
    type = "amount-too-large"
    title = "The amount is larger than this service can hold"


def within(amount: Decimal, column: MoneyColumn, *, field: str, what: str) -> Decimal:
    """``amount`` if ``column`` can hold it, else ``AmountTooLarge`` naming the field and the maximum."""
    if amount > column.maximum:
        raise AmountTooLarge(
            f"{what} would be {written(amount, exact=True)}; the most this service holds is "
            f"{written(column.maximum)}",
            field=field,
            maximum_aud=str(column.maximum),
        )
    return amount

"""How pages write money: totals to the cent (the ledger's fourth place reads like a fault on a budget),
prices and one request's cost exactly (rounding a price would misstate it)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from donatello.web.rendering import aud, price


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("66.9669"), "A$66.97"),
        (Decimal("5100"), "A$5,100.00"),
        (Decimal("0.005"), "A$0.01"),  # half up, as a statement rounds
        (Decimal("0.0049"), "A$0.00"),
        (Decimal("-12.3450"), "-A$12.35"),
        ("1234567.891", "A$1,234,567.89"),
        (None, "—"),
    ],
)
def test_a_total_is_shown_to_the_cent(amount: Decimal | str | None, shown: str) -> None:
    assert aud(amount) == shown


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("0.0531"), "A$0.0531"),
        (Decimal("0.0500"), "A$0.05"),
        (Decimal("0.2124"), "A$0.2124"),
        (Decimal("12"), "A$12.00"),
        (None, "—"),
    ],
)
def test_a_price_is_shown_exactly(amount: Decimal | None, shown: str) -> None:
    assert price(amount) == shown

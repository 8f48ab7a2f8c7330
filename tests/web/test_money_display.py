"""How pages write money, one filter for all of it: totals to the cent (the ledger's fourth place reads
like a fault on a budget), prices and one request's cost exactly (rounding a price would misstate it)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from donatello.web.rendering import TEMPLATES, aud, price


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
        (Decimal("0.0150"), "A$0.015"),  # exact, without a zero that says nothing
        (Decimal("0.0500"), "A$0.05"),
        (Decimal("0.2124"), "A$0.2124"),
        (Decimal("12"), "A$12.00"),
        (None, "—"),
    ],
)
def test_a_price_is_shown_exactly(amount: Decimal | None, shown: str) -> None:
    assert price(amount) == shown


def test_a_foreign_price_names_its_currency_the_same_way() -> None:
    assert aud(Decimal("0.0350"), exact=True, currency="USD") == "US$0.035"
    assert aud(Decimal("48.64"), exact=True, currency="AUD") == "A$48.64"
    assert aud(Decimal("3"), exact=True, currency="NZD") == "NZD 3.00"


#: A shown figure of money: an expression naming an amount, outside an attribute (data-*, value=).
MONEY = re.compile(r'(?<!")\{\{\s*([^}]*(?:_aud|cost|price|amount|total|unit)\b[^}]*)\}\}')


def _not_a_figure(expression: str) -> bool:
    """A choice of words (``"x" if amount ...``), a message, or a macro that formats with the filter."""
    return " if " in expression or expression.strip().startswith(("problems.", "over_under("))


def test_every_template_writes_money_through_the_one_filter() -> None:
    unfiltered = [
        f"{path.name}: {match.group(1).strip()}"
        for path in TEMPLATES.rglob("*.html")
        for match in MONEY.finditer(path.read_text(encoding="utf-8"))
        if "| aud" not in match.group(1) and not _not_a_figure(match.group(1))
    ]
    assert unfiltered == []
    written = "".join(path.read_text(encoding="utf-8") for path in TEMPLATES.rglob("*.html"))
    assert "| price" not in written and "A${{" not in written and "}} AUD" not in written

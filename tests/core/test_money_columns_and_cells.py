"""The declared money maxima are the columns' own (a NUMERIC change in the models must change them too),
and a CSV cell is inert by its type: text starting like a formula gets a ``'``, numbers never do, and a
carriage return inside a cell is quoted."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Numeric

from donatello.core.money import BUDGET_COLUMN, LEDGER_COLUMN, SPEND_COLUMN, MoneyColumn
from donatello.core.spreadsheets import cell, csv_row
from donatello.models import CostEvent, DepartmentBudget
from donatello.models.budget_requests import BudgetIncreaseRequest


@pytest.mark.parametrize(
    ("declared", "column"),
    [
        (BUDGET_COLUMN, DepartmentBudget.__table__.c.monthly_budget_aud),
        (BUDGET_COLUMN, DepartmentBudget.__table__.c.period_top_up_aud),
        (BUDGET_COLUMN, DepartmentBudget.__table__.c.per_user_monthly_cap_aud),
        (BUDGET_COLUMN, BudgetIncreaseRequest.__table__.c.amount_aud),
        (SPEND_COLUMN, DepartmentBudget.__table__.c.current_spend_aud),
        (SPEND_COLUMN, DepartmentBudget.__table__.c.reserved_aud),
        (LEDGER_COLUMN, CostEvent.__table__.c.actual_cost_aud),
    ],
)
def test_each_declared_maximum_is_its_columns(declared: MoneyColumn, column: ColumnElement[Any]) -> None:
    kind = column.type
    assert isinstance(kind, Numeric)
    assert (kind.precision, kind.scale) == (declared.precision, declared.scale)


def test_the_maxima_are_the_largest_values_their_columns_hold() -> None:
    assert BUDGET_COLUMN.maximum == Decimal("9999999999.99")
    assert LEDGER_COLUMN.maximum == Decimal("9999999999.9999")
    assert SPEND_COLUMN.maximum == Decimal("99999999.9999")


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x","y")', "+SUM(1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_text_that_starts_like_a_formula_is_inert(text: str) -> None:
    assert cell(text) == "'" + text


def test_numbers_dates_and_ordinary_text_are_unchanged() -> None:
    assert cell(Decimal("-1.2300")) == "-1.2300"
    assert cell(Decimal("0E-8")) == "0.00000000"
    assert cell(-3) == "-3"
    assert cell(date(2026, 4, 1)) == "2026-04-01"
    assert cell(None) == ""
    assert cell("Marketing - Sydney") == "Marketing - Sydney"


def test_a_row_is_quoted_as_csv_needs_and_reads_back() -> None:
    line = csv_row(["\r=1", 'say "hi", then', "plain", Decimal("-1.50")])
    assert line == '"\'\r=1","say ""hi"", then",plain,-1.50\n'
    assert next(csv.reader(io.StringIO(line, newline=""))) == ["'\r=1", 'say "hi", then', "plain", "-1.50"]

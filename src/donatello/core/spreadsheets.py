"""Cells a spreadsheet will not run: every CSV we write passes its text cells through here.

Excel, LibreOffice and Google Sheets read a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(a tab or carriage return first can hide one), so a department named ``=HYPERLINK(…)`` would become a
live link in finance's spreadsheet. OWASP's rule (CSV injection): prefix such a text cell with ``'``,
which the spreadsheet shows as text and hides. Whether a cell is text is decided by its column's type,
never by its content: a negative amount ``-1.2300`` is a number and stays one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

#: The first characters that make a spreadsheet evaluate a cell (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """A text cell as a spreadsheet shows it without running it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: object) -> str:
    """One CSV cell: nothing for None, decimals as exact numeric text, dates in ISO, text made inert.
    The value's type is its column's: pass numbers as numbers (never pre-formatted strings)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return inert(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool | int | float | date):
        return str(value)
    return str(value)  # ids and other values that render without a leading sign


def csv_row(values: Iterable[object]) -> str:
    """One CSV line of ``cell``s, quoted as RFC 4180 needs: a cell holding a comma, a quote, a line
    feed or a carriage return (Python 3.11's ``csv`` leaves a lone CR bare when lines end in LF)."""
    return ",".join(_quoted(cell(value)) for value in values) + "\n"


def _quoted(text: str) -> str:
    if any(mark in text for mark in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def inert_sql(expression: str) -> str:
    """The same rule in PostgreSQL for a text expression (``COPY … TO STDOUT`` exports): one comparison of
    the first character's code (= + - @ tab CR), NULL stays NULL. The expression is evaluated twice (the
    test, then the value), cheaper for column references than one regular expression per cell."""
    value = f"({expression})::text"
    return f"CASE WHEN ascii({value}) IN (61, 43, 45, 64, 9, 13) THEN '''' || {value} ELSE {value} END"

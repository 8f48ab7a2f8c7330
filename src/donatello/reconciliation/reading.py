"""Provider cost files read as a stream, with flat memory whatever their size.

A CSV is read block by block (pyarrow's streaming reader), a Parquet file batch by batch across its row
groups, and only the columns the comparison needs are decoded. Each batch is grouped in Arrow by
(charge period, mapping keys, currency) and only those group sums — a handful per batch — cross into
Python, where ``Totals.add`` folds them into per local day sums. Costs are decoded straight to
``decimal128`` (a float column is read through its shortest text, never converted in binary), so
money stays exact end to end. A cost that is not a number (``NaN``, ``inf``, text, an empty cell) or a
name holding a NUL refuses the whole file, naming the row: nothing is read as 0.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from donatello.reconciliation.errors import UnreadableFile

COST = pa.decimal128(38, 16)
QUANTITY = pa.decimal128(38, 6)
BLOCK_BYTES = 1 << 20  # CSV bytes decoded at a time (the reader keeps a few blocks ahead)
PARQUET_BATCH = 65_536

#: FOCUS columns that name what a line is, most specific first (1.2 ``SkuMeter``; 1.0 ``x_SkuMeterName``).
FOCUS_KEYS = ("ResourceName", "SkuMeter", "x_SkuMeterName", "ResourceId")
FOCUS_REQUIRED = ("ChargePeriodStart", "BilledCost", "BillingCurrency")
GENERIC_REQUIRED = ("date", "model", "cost", "currency")


@dataclass(frozen=True)
class Group:
    """A provider line, as kept: its local day, what names it (mapping candidates, most specific first),
    how to show it, and its currency."""

    day: date
    keys: tuple[str, ...]
    label: str
    currency: str


@dataclass
class Sum:
    cost: Decimal = Decimal(0)
    quantity: Decimal | None = None
    lines: int = 0


@dataclass
class Totals:
    """Daily sums per ``Group``; ``rows`` counts every line read."""

    groups: dict[Group, Sum] = field(default_factory=dict)
    rows: int = 0

    def add(self, group: Group, cost: Decimal | None, quantity: Decimal | None, lines: int) -> None:
        found = self.groups.setdefault(group, Sum())
        found.cost += cost or Decimal(0)
        if quantity is not None:
            found.quantity = (found.quantity or Decimal(0)) + quantity
        found.lines += lines


def read(path: Path, file_format: str, timezone: str) -> Totals:
    """Daily totals of a provider file: ``focus`` (FOCUS 1.x, CSV or Parquet) or ``generic`` CSV."""
    try:
        if file_format == "generic":
            return _generic(path)
        return _focus(path, ZoneInfo(timezone))
    except (pa.ArrowException, UnicodeDecodeError, csv.Error) as error:
        raise UnreadableFile(f"the file could not be read: {str(error).splitlines()[0][:300]}") from None


def is_parquet(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1"


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            return next(csv.reader(handle))
        except StopIteration:
            raise UnreadableFile("the file is empty") from None


def _require(present: list[str], required: tuple[str, ...], what: str) -> None:
    missing = [name for name in required if name not in present]
    if missing:
        raise UnreadableFile(f"a {what} file needs the columns {', '.join(missing)}", missing=missing)


def _csv_batches(
    path: Path, columns: list[str], types: dict[str, pa.DataType], cost: str
) -> Iterator[pa.RecordBatch]:
    options = pa_csv.ConvertOptions(
        include_columns=columns,
        column_types={name: types.get(name, pa.string()) for name in columns},
        strings_can_be_null=True,
        null_values=[""],  # not Arrow's default list, which reads "NaN", "NA" or "NULL" as missing
    )
    try:  # the first block is converted on opening, the others as they are read
        yield from pa_csv.open_csv(
            path, read_options=pa_csv.ReadOptions(block_size=BLOCK_BYTES), convert_options=options
        )
    except pa.ArrowInvalid:
        _refuse_first_non_number(path, cost)
        raise


def _refuse_first_non_number(path: Path, cost: str) -> None:
    """Arrow says a value would not convert but not where: find the first cost that is not a finite
    number (only on this failing path) and name its row."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = csv.DictReader(handle)
        for number, row in enumerate(rows, start=1):
            value = (row.get(cost) or "").strip()
            try:
                finite = Decimal(value).is_finite()
            except ArithmeticError:
                finite = False
            if not finite:
                raise UnreadableFile(
                    f"the file could not be read: row {number}: {cost} {value[:40]!r} is not a number",
                    row=number,
                )


def _parquet_batches(
    path: Path, columns: list[str], types: dict[str, pa.DataType]
) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, columns=columns):
        yield pa.RecordBatch.from_arrays(
            [_as(batch.column(name), types.get(name)) for name in columns], names=columns
        )


def _as(column: pa.Array, target: pa.DataType | None) -> pa.Array:
    if target is None:  # keys and periods: text (or a timestamp, kept as it is)
        return column if pa.types.is_timestamp(column.type) else column.cast(pa.string())
    if pa.types.is_floating(column.type):
        column = column.cast(pa.string())  # the float's shortest text, so 0.1 stays 0.1
    return column.cast(target)


def _grouped(
    batches: Iterator[pa.RecordBatch], keys: list[str], cost: str, quantity: str | None
) -> Iterator[dict[str, Any]]:
    """Per batch, its group sums (Arrow does the per-row work)."""
    aggregations: list[tuple[str, str] | tuple[str, str, pc.CountOptions]] = [
        (cost, "sum"),
        (cost, "count", pc.CountOptions(mode="all")),
    ]
    if quantity is not None:
        aggregations.append((quantity, "sum"))
    seen = 0
    for batch in batches:
        if missing := batch.column(cost).null_count:
            first = seen + 1 + pc.index(batch.column(cost).is_null(), True).as_py()
            raise UnreadableFile(
                f"the file could not be read: row {first}: {cost} is empty ({missing} rows without one)",
                row=first,
            )
        seen += batch.num_rows
        if batch.num_rows:
            yield from pa.Table.from_batches([batch]).group_by(keys).aggregate(aggregations).to_pylist()


def _name(value: object) -> str:
    """A name from the file as we keep it; a NUL cannot be stored as text (nor is it in any real name)."""
    text = str(value or "").strip()
    if "\x00" in text:
        raise UnreadableFile(f"the name {text.replace(chr(0), '<NUL>')[:60]!r} holds a NUL character")
    return text


def _focus(path: Path, zone: ZoneInfo) -> Totals:
    parquet = is_parquet(path)
    present = pq.ParquetFile(path).schema_arrow.names if parquet else _header(path)
    _require(present, FOCUS_REQUIRED, "FOCUS")
    keys = [name for name in FOCUS_KEYS if name in present]
    if not keys:
        raise UnreadableFile(f"a FOCUS file needs one of the columns {', '.join(FOCUS_KEYS)}")
    quantity = "ConsumedQuantity" if "ConsumedQuantity" in present else None
    columns = [*FOCUS_REQUIRED, *keys, *([quantity] if quantity else [])]
    types = {"BilledCost": COST, **({quantity: QUANTITY} if quantity else {})}
    if parquet:
        batches = _parquet_batches(path, columns, types)
    else:
        batches = _csv_batches(path, columns, types, "BilledCost")
    totals = Totals()
    day_of = _day_reader(zone)
    for group in _grouped(batches, ["ChargePeriodStart", "BillingCurrency", *keys], "BilledCost", quantity):
        names = {name: _name(group[name]) for name in keys}
        candidates = _focus_candidates(names)
        label = " · ".join(value for value in (names.get("ResourceName"), _meter(names)) if value)
        totals.add(
            Group(
                day_of(group["ChargePeriodStart"]),
                candidates,
                label or names.get("ResourceId", "") or "(unnamed)",
                _currency(group["BillingCurrency"]),
            ),
            group["BilledCost_sum"],
            group.get(f"{quantity}_sum") if quantity else None,
            group["BilledCost_count"],
        )
        totals.rows += group["BilledCost_count"]
    return totals


def _meter(names: dict[str, str]) -> str:
    return names.get("SkuMeter") or names.get("x_SkuMeterName") or ""


def _focus_candidates(names: dict[str, str]) -> tuple[str, ...]:
    """Mapping keys for a FOCUS line, most specific first: ``resource/meter`` (a deployment on one
    account), the meter, the resource name; the resource id only when nothing else names the line (an
    id per line would make every line a daily total of its own)."""
    resource, meter = names.get("ResourceName", ""), _meter(names)
    candidates = [f"{resource}/{meter}" if resource and meter else "", meter, resource]
    if not (resource or meter):
        candidates.append(names.get("ResourceId", ""))
    return tuple(dict.fromkeys(value for value in candidates if value))


def _day_reader(zone: ZoneInfo) -> Callable[[object], date]:
    """The local day a charge period starts in (an instant without a zone is UTC, as FOCUS says)."""
    seen: dict[object, date] = {}

    def day_of(value: object) -> date:
        if value in seen:
            return seen[value]
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str) and value.strip():
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise UnreadableFile(f"ChargePeriodStart {value[:40]!r} is not an ISO 8601 instant") from None
        else:
            raise UnreadableFile("a line has no ChargePeriodStart")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seen[value] = moment.astimezone(zone).date()
        return seen[value]

    return day_of


def _currency(value: object) -> str:
    text = str(value or "").strip().upper()
    if len(text) != 3 or not text.isalpha():
        raise UnreadableFile(f"currency {str(value)[:20]!r} is not an ISO 4217 code")
    return text


def _generic(path: Path) -> Totals:
    """``date`` (local day), ``model`` (``provider/model``), ``cost``, ``currency``, optional ``quantity``."""
    if is_parquet(path):
        raise UnreadableFile("the generic format is a CSV file")
    present = _header(path)
    _require(present, GENERIC_REQUIRED, "generic")
    quantity = "quantity" if "quantity" in present else None
    columns = [*GENERIC_REQUIRED, *([quantity] if quantity else [])]
    types = {"cost": COST, **({quantity: QUANTITY} if quantity else {})}
    totals = Totals()
    days: dict[str, date] = {}
    for group in _grouped(
        _csv_batches(path, columns, types, "cost"), ["date", "model", "currency"], "cost", quantity
    ):
        text = (group["date"] or "").strip()
        if text not in days:
            try:
                days[text] = date.fromisoformat(text)
            except ValueError:
                raise UnreadableFile(f"date {text[:40]!r} is not a day (YYYY-MM-DD)") from None
        model = _name(group["model"])
        totals.add(
            Group(days[text], (model,) if model else (), model or "(no model)", _currency(group["currency"])),
            group["cost_sum"],
            group.get("quantity_sum") if quantity else None,
            group["cost_count"],
        )
        totals.rows += group["cost_count"]
    return totals

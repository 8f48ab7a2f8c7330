"""Cost exports for finance: the ledger as CSV, Parquet or FinOps FOCUS 1.2 (Parquet or CSV), streamed.

Rows come from a server-side cursor a batch at a time and leave as encoded bytes before the next batch
is read, so memory stays flat whatever the range. Attribution is the ledger's own (frozen at spend
time). Money stays decimal end to end: ``Decimal`` → CSV text written exactly, Parquet ``decimal128``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.core.database import set_tenant, transaction
from donatello.reports import repository

FORMATS = ("csv", "parquet", "focus", "focus-csv")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "focus-csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "focus": "application/vnd.apache.parquet",
}
#: Content types as stored (a bare ``type/subtype``, as the image stores require).
STORED_TYPES = {
    "csv": "text/csv",
    "focus-csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "focus": "application/vnd.apache.parquet",
}
SUFFIXES = {"csv": "csv", "focus-csv": "focus.csv", "parquet": "parquet", "focus": "focus.parquet"}
INVOICE_ISSUER = "DonatelloAI"

MONEY = pa.decimal128(14, 4)
RATE = pa.decimal128(18, 8)
UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ExportRange:
    """What to export: an organization's cost events from ``starts`` (inclusive) to ``ends`` (exclusive)."""

    organization_id: uuid.UUID
    organization_name: str
    timezone: str
    starts: datetime
    ends: datetime
    department_id: uuid.UUID | None
    format: str

    @property
    def first_day(self) -> date:
        return self.starts.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def last_day(self) -> date:
        return (self.ends - timedelta(microseconds=1)).astimezone(ZoneInfo(self.timezone)).date()

    def filename(self) -> str:
        return f"cost-events-{self.first_day}-{self.last_day}.{SUFFIXES[self.format]}"


# --- layouts -------------------------------------------------------------------------------------------

Columns = dict[str, list[Any]]


def _ledger_columns(rows: Sequence[Any], rng: ExportRange) -> Columns:
    zone = ZoneInfo(rng.timezone)
    local = [row.created_at.astimezone(zone) for row in rows]
    return {
        "organization_id": [str(rng.organization_id)] * len(rows),
        "organization_name": [rng.organization_name] * len(rows),
        "cost_event_id": [str(row.id) for row in rows],
        "kind": [row.kind for row in rows],
        "corrects_event_id": [_str(row.corrects_event_id) for row in rows],
        "generation_id": [str(row.generation_id) for row in rows],
        "created_at_utc": [row.created_at.astimezone(UTC) for row in rows],
        "created_at_local": [moment.isoformat() for moment in local],
        "timezone": [rng.timezone] * len(rows),
        "local_date": [moment.date() for moment in local],
        "billing_period_start": [moment.date().replace(day=1) for moment in local],
        "department_id": [str(row.department_id) for row in rows],
        "department_code": [row.department_code for row in rows],
        "department_name": [row.department_name for row in rows],
        "user_id": [str(row.user_id) for row in rows],
        "user_email": [row.user_email for row in rows],
        "provider": [row.model_provider for row in rows],
        "model": [row.model_name for row in rows],
        "size": [row.size for row in rows],
        "quality": [row.quality for row in rows],
        "image_count": [row.image_count for row in rows],
        "estimated_cost_aud": [row.estimated_cost_aud for row in rows],
        "actual_cost_aud": [row.actual_cost_aud for row in rows],
        "currency": [row.currency for row in rows],
        "pricing_currency": [row.pricing_currency for row in rows],
        "pricing_amount": [row.pricing_amount for row in rows],
        "fx_rate": [row.fx_rate for row in rows],
        "fx_rate_source": [row.fx_rate_source for row in rows],
        "fx_rate_date": [row.fx_rate_date for row in rows],
    }


LEDGER_SCHEMA = pa.schema(
    [
        ("organization_id", pa.string()),
        ("organization_name", pa.string()),
        ("cost_event_id", pa.string()),
        ("kind", pa.string()),
        ("corrects_event_id", pa.string()),
        ("generation_id", pa.string()),
        ("created_at_utc", UTC_TS),
        ("created_at_local", pa.string()),
        ("timezone", pa.string()),
        ("local_date", pa.date32()),
        ("billing_period_start", pa.date32()),
        ("department_id", pa.string()),
        ("department_code", pa.string()),
        ("department_name", pa.string()),
        ("user_id", pa.string()),
        ("user_email", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("size", pa.string()),
        ("quality", pa.string()),
        ("image_count", pa.int32()),
        ("estimated_cost_aud", MONEY),
        ("actual_cost_aud", MONEY),
        ("currency", pa.string()),
        ("pricing_currency", pa.string()),
        ("pricing_amount", MONEY),
        ("fx_rate", RATE),
        ("fx_rate_source", pa.string()),
        ("fx_rate_date", pa.date32()),
    ]
)

#: FOCUS 1.2 columns a dataset must always carry.
FOCUS_MANDATORY = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)

FOCUS_SCHEMA = pa.schema(
    [
        ("BilledCost", MONEY),
        ("BillingAccountId", pa.string()),
        ("BillingAccountName", pa.string()),
        ("BillingCurrency", pa.string()),
        ("BillingPeriodEnd", UTC_TS),
        ("BillingPeriodStart", UTC_TS),
        ("ChargeCategory", pa.string()),
        ("ChargeClass", pa.string()),
        ("ChargeDescription", pa.string()),
        ("ChargeFrequency", pa.string()),
        ("ChargePeriodEnd", UTC_TS),
        ("ChargePeriodStart", UTC_TS),
        ("ConsumedQuantity", pa.decimal128(18, 4)),
        ("ConsumedUnit", pa.string()),
        ("ContractedCost", MONEY),
        ("EffectiveCost", MONEY),
        ("InvoiceIssuerName", pa.string()),
        ("ListCost", MONEY),
        ("PricingCategory", pa.string()),
        ("PricingCurrency", pa.string()),
        ("PricingQuantity", pa.decimal128(18, 4)),
        ("PricingUnit", pa.string()),
        ("ProviderName", pa.string()),
        ("PublisherName", pa.string()),
        ("ResourceId", pa.string()),
        ("ResourceType", pa.string()),
        ("ServiceCategory", pa.string()),
        ("ServiceName", pa.string()),
        ("ServiceSubcategory", pa.string()),
        ("SkuId", pa.string()),
        ("SubAccountId", pa.string()),
        ("SubAccountName", pa.string()),
        ("SubAccountType", pa.string()),
        ("Tags", pa.string()),
        ("x_CostEventId", pa.string()),
        ("x_Kind", pa.string()),
        ("x_CorrectsEventId", pa.string()),
        ("x_DepartmentCode", pa.string()),
        ("x_UserId", pa.string()),
        ("x_UserEmail", pa.string()),
        ("x_EstimatedCost", MONEY),
        ("x_PricingCurrencyAmount", MONEY),
        ("x_FxRate", RATE),
        ("x_FxRateSource", pa.string()),
        ("x_ChargeTimeUtc", UTC_TS),
        ("x_ChargeTimeLocal", pa.string()),
    ]
)

_CATEGORY = {"charge": "Usage", "refund": "Credit", "correction": "Adjustment"}


def _focus_columns(rows: Sequence[Any], rng: ExportRange) -> Columns:
    """One FOCUS row per cost event. The charge period is the event's local day, the billing period its
    local month (the budget period), both as UTC instants; refunds and corrections carry ChargeClass
    "Correction" and amend the charge named in x_CorrectsEventId."""
    zone = ZoneInfo(rng.timezone)
    columns: Columns = {field.name: [] for field in FOCUS_SCHEMA}
    for row in rows:
        local = row.created_at.astimezone(zone)
        day = local.date()
        month = day.replace(day=1)
        next_month = (month + timedelta(days=32)).replace(day=1)
        cost: Decimal = row.actual_cost_aud
        quantity = Decimal(row.image_count)
        sku = "/".join(part for part in (row.model_provider, row.model_name, row.size, row.quality) if part)
        values = {
            "BilledCost": cost,
            "BillingAccountId": str(rng.organization_id),
            "BillingAccountName": rng.organization_name,
            "BillingCurrency": row.currency,
            "BillingPeriodEnd": _utc_midnight(next_month, zone),
            "BillingPeriodStart": _utc_midnight(month, zone),
            "ChargeCategory": _CATEGORY[row.kind],
            "ChargeClass": None if row.kind == "charge" else "Correction",
            "ChargeDescription": _describe(row),
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": _utc_midnight(day + timedelta(days=1), zone),
            "ChargePeriodStart": _utc_midnight(day, zone),
            "ConsumedQuantity": quantity if row.kind == "charge" else None,
            "ConsumedUnit": "Images" if row.kind == "charge" else None,
            "ContractedCost": cost,
            "EffectiveCost": cost,
            "InvoiceIssuerName": INVOICE_ISSUER,
            "ListCost": cost,
            "PricingCategory": "Standard",
            "PricingCurrency": row.pricing_currency,
            "PricingQuantity": quantity,
            "PricingUnit": "Images",
            "ProviderName": row.model_provider,
            "PublisherName": row.model_provider,
            "ResourceId": str(row.generation_id),
            "ResourceType": "Image generation",
            "ServiceCategory": "AI and Machine Learning",
            "ServiceName": row.model_name,
            "ServiceSubcategory": "Generative AI",
            "SkuId": sku,
            "SubAccountId": str(row.department_id),
            "SubAccountName": row.department_name,
            "SubAccountType": "Department",
            "Tags": json.dumps(
                {"department_code": row.department_code, "user_email": row.user_email, "kind": row.kind},
                sort_keys=True,
            ),
            "x_CostEventId": str(row.id),
            "x_Kind": row.kind,
            "x_CorrectsEventId": _str(row.corrects_event_id),
            "x_DepartmentCode": row.department_code,
            "x_UserId": str(row.user_id),
            "x_UserEmail": row.user_email,
            "x_EstimatedCost": row.estimated_cost_aud,
            "x_PricingCurrencyAmount": row.pricing_amount,
            "x_FxRate": row.fx_rate,
            "x_FxRateSource": row.fx_rate_source,
            "x_ChargeTimeUtc": row.created_at.astimezone(UTC),
            "x_ChargeTimeLocal": local.isoformat(),
        }
        for name, value in values.items():
            columns[name].append(value)
    return columns


def _describe(row: Any) -> str:
    what = f"{row.image_count} x {row.model_provider}/{row.model_name}"
    if row.size:
        what += f" {row.size}"
    if row.quality:
        what += f" {row.quality}"
    return {"charge": "Image generation: ", "refund": "Refund: ", "correction": "Correction: "}[
        row.kind
    ] + what


def _utc_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


# --- encoders ------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")  # exact; never scientific notation, never float
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


class _Chunks(io.RawIOBase):
    """A write-only file that hands what was written to the caller in chunks (Parquet to a stream)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class Encoder:
    """Turns batches of ledger rows into bytes of one format."""

    def __init__(self, rng: ExportRange) -> None:
        self.rng = rng
        focus = rng.format in ("focus", "focus-csv")
        self.layout: Callable[[Sequence[Any], ExportRange], Columns] = (
            _focus_columns if focus else _ledger_columns
        )
        self.schema = FOCUS_SCHEMA if focus else LEDGER_SCHEMA
        self.parquet = rng.format in ("parquet", "focus")
        self._sink = _Chunks()
        self._writer: pq.ParquetWriter | None = None
        self._header_sent = False

    def batch(self, rows: Sequence[Any]) -> bytes:
        columns = self.layout(rows, self.rng)
        if self.parquet:
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._sink, self.schema, compression="zstd")
            self._writer.write_batch(pa.RecordBatch.from_pydict(columns, schema=self.schema))
            return self._sink.take()
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        if not self._header_sent:
            writer.writerow(self.schema.names)
            self._header_sent = True
        writer.writerows([[_cell(v) for v in values] for values in zip(*columns.values(), strict=True)])
        return text.getvalue().encode()

    def finish(self) -> bytes:
        if self.parquet:
            if self._writer is None:  # an empty range is still a valid file with the schema
                self._writer = pq.ParquetWriter(self._sink, self.schema, compression="zstd")
            self._writer.close()
            return self._sink.take()
        if not self._header_sent:
            self._header_sent = True
            return (",".join(self.schema.names) + "\n").encode()
        return b""


async def encode(
    session: AsyncSession,
    rng: ExportRange,
    *,
    batch: int = 5000,
    progress: Callable[[int], Any] | None = None,
) -> AsyncIterator[bytes]:
    """The range as bytes of ``rng.format``, one chunk per batch of rows (``session`` is open and may
    see the organization's rows)."""
    encoder = Encoder(rng)
    written = 0
    async for rows in repository.stream_events(
        session, rng.organization_id, rng.starts, rng.ends, rng.department_id, batch=batch
    ):
        chunk = encoder.batch(rows)
        written += len(rows)
        if progress is not None:
            await progress(written)
        if chunk:
            yield chunk
    yield encoder.finish()


async def to_file(
    session: AsyncSession,
    rng: ExportRange,
    path: Path,
    *,
    batch: int = 5000,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """Write the range to ``path`` as ``encode`` streams it (one batch in memory at a time); returns the
    number of rows written."""
    written = 0

    async def count(rows: int) -> None:
        nonlocal written
        written = rows
        if progress is not None:
            await progress(rows)

    handle = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in encode(session, rng, batch=batch, progress=count):
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.flush)
    finally:
        await asyncio.to_thread(handle.close)
    return written


async def stream(
    sessions: async_sessionmaker[AsyncSession], rng: ExportRange, *, batch: int = 5000
) -> AsyncIterator[bytes]:
    """``encode`` in a transaction of its own (the response body outlives the request's)."""
    async with transaction(sessions) as session:
        await set_tenant(session, rng.organization_id)
        async for chunk in encode(session, rng, batch=batch):
            yield chunk

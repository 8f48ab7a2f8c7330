"""Cost exports for finance: the ledger as CSV, Parquet or FinOps FOCUS 1.2 (Parquet or CSV), streamed.

The range is one ``COPY (SELECT …) TO STDOUT`` in which PostgreSQL computes and formats every column of
the layout (``layouts``): the CSV formats are that stream, regrouped into chunks of ``batch`` rows; the
Parquet formats parse each batch with Arrow into the layout's types and write it as a row group. Either
way one batch (two while one is encoded and the next read) is in memory, whatever the range.
Attribution is the ledger's own (frozen at spend time). Money stays decimal end to end: numeric text
at the column's scale in CSV, ``decimal128`` in Parquet — never a float. In the CSV formats a text
cell that a spreadsheet would run as a formula starts with ``'`` (``core.spreadsheets``, applied in the
SQL); Parquet is read by programs, not spreadsheets, and carries the text as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.core.database import transaction
from donatello.exports import repository
from donatello.exports.layouts import DEFAULT_FOCUS_VERSION, FOCUS_VERSIONS, LEDGER, Layout

FORMATS = ("csv", "parquet", "focus", "focus-csv")
FOCUS_FORMATS = ("focus", "focus-csv")
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
#: Rows per CSV chunk, and per Parquet row group (a columnar file wants fewer, larger groups).
CSV_BATCH = 5_000
PARQUET_BATCH = 25_000

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
    #: The FOCUS version of a FOCUS export (None: the ledger formats)
    focus_version: str | None = None

    @property
    def first_day(self) -> date:
        return self.starts.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def last_day(self) -> date:
        return (self.ends - timedelta(microseconds=1)).astimezone(ZoneInfo(self.timezone)).date()

    @property
    def layout(self) -> Layout:
        if self.format in FOCUS_FORMATS:
            return FOCUS_VERSIONS[self.focus_version or DEFAULT_FOCUS_VERSION]
        return LEDGER

    @property
    def parquet(self) -> bool:
        return self.format in ("parquet", "focus")

    def filename(self) -> str:
        """``acme-corporation-cost-events-2026-11-01-2026-11-30.focus.parquet``: whose, which days, what."""
        organization = re.sub(r"[^a-z0-9]+", "-", self.organization_name.lower()).strip("-") or "organization"
        suffix = suffix_of(self.format, self.focus_version)
        return f"{organization}-cost-events-{self.first_day}-{self.last_day}.{suffix}"


def suffix_of(export_format: str, focus_version: str | None) -> str:
    """``csv``, ``parquet``, ``focus.parquet``, ``focus.csv``; a FOCUS version other than the default is
    named (``focus-1.3.parquet``), so files of two versions never pass for each other."""
    suffix = SUFFIXES[export_format]
    if export_format in FOCUS_FORMATS and (focus_version or DEFAULT_FOCUS_VERSION) != DEFAULT_FOCUS_VERSION:
        suffix = suffix.replace("focus", f"focus-{focus_version}", 1)
    return suffix


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
    """Turns the ``COPY`` stream of one layout (a CSV header, then CSV rows) into bytes of one format."""

    def __init__(self, rng: ExportRange) -> None:
        self.layout = rng.layout
        self.parquet = rng.parquet
        self._sink = _Chunks()
        self._writer: pq.ParquetWriter | None = None
        self._read = pa_csv.ReadOptions(column_names=self.layout.names, use_threads=False)
        self._parse = pa_csv.ParseOptions(newlines_in_values=True)
        self._convert = pa_csv.ConvertOptions(
            column_types={column.name: column.type for column in self.layout.columns},
            null_values=[""],  # COPY writes NULL as nothing and an empty string as ""
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )

    def header(self, line: bytes) -> bytes:
        names = line.decode().rstrip("\n").split(",")
        if names != self.layout.names:  # the SQL and the Arrow schema are one table; this never drifts
            raise RuntimeError(f"export header {names} does not match the layout")
        return b"" if self.parquet else line

    def rows(self, data: bytearray, count: int) -> bytes:
        """A batch of ``count`` whole CSV rows in the export's format."""
        if not self.parquet:
            return bytes(data)
        table = pa_csv.read_csv(
            pa.py_buffer(data),
            read_options=self._read,
            parse_options=self._parse,
            convert_options=self._convert,
        )
        self._parquet_writer().write_table(table, row_group_size=count)
        return self._sink.take()

    def finish(self) -> bytes:
        if not self.parquet:
            return b""
        self._parquet_writer().close()  # an empty range is still a valid file with the schema
        return self._sink.take()

    def _parquet_writer(self) -> pq.ParquetWriter:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._sink, self.layout.schema, compression="zstd")
        return self._writer


async def encode(
    session: AsyncSession,
    rng: ExportRange,
    *,
    batch: int | None = None,
    progress: Callable[[int], Awaitable[Any]] | None = None,
) -> AsyncIterator[bytes]:
    """The range as bytes of ``rng.format``, one chunk per ``batch`` rows (``session`` is open and may
    see the organization's rows). Each batch is encoded in a thread while the next is read."""
    encoder = Encoder(rng)
    size = batch or (PARQUET_BATCH if encoder.parquet else CSV_BATCH)
    statement, params = repository.export_copy(
        rng.layout, rng.organization_id, rng.organization_name, rng.timezone, rng.starts, rng.ends,
        rng.department_id, spreadsheet=not encoder.parquet,
    )  # fmt: skip
    headed = False
    pending, count = bytearray(), 0  # rows held as one buffer: no object per row
    converting: asyncio.Future[bytes] | None = None  # the previous batch, encoding in a thread
    written = 0

    async def converted() -> bytes:
        nonlocal converting
        chunk, converting = (await converting if converting is not None else b""), None
        return chunk

    try:
        async for row in repository.copy_out(session, statement, params, timezone=rng.timezone):
            if not headed:
                headed = True
                if heading := encoder.header(bytes(row)):
                    yield heading
                continue
            pending += row
            count += 1
            if count < size:
                continue
            chunk = await converted()
            converting = asyncio.ensure_future(asyncio.to_thread(encoder.rows, pending, count))
            written += count
            pending, count = bytearray(), 0
            if chunk:
                yield chunk
            if progress is not None:
                await progress(written)
        chunk = await converted()
        if count:
            chunk += await asyncio.to_thread(encoder.rows, pending, count)
            written += count
            if progress is not None:
                await progress(written)
        yield chunk + await asyncio.to_thread(encoder.finish)
    finally:
        if converting is not None:  # abandoned mid-stream: let the thread finish with the writer
            with contextlib.suppress(Exception):
                await converting


async def to_file(
    session: AsyncSession,
    rng: ExportRange,
    path: Path,
    *,
    batch: int | None = None,
    progress: Callable[[int], Awaitable[Any]] | None = None,
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
    sessions: async_sessionmaker[AsyncSession], rng: ExportRange, *, batch: int | None = None
) -> AsyncIterator[bytes]:
    """``encode`` in a transaction of its own (the response body outlives the request's)."""
    async with transaction(sessions, tenant=rng.organization_id) as session:
        async for chunk in encode(session, rng, batch=batch):
            yield chunk


async def export_file(
    sessions: async_sessionmaker[AsyncSession],
    rng: ExportRange,
    temporary: Path,
    hand_over: Callable[[Path], Awaitable[Any]],
    *,
    batch: int | None = None,
    progress: Callable[[int], Awaitable[Any]] | None = None,
) -> int:
    """The one way a whole export file is made (the ``exports`` job and ``donatello export``): the range
    written to ``temporary`` from a transaction of its own, then the complete file handed over (stored, or
    renamed into place), so half a file is never where a reader could find it; ``temporary`` is gone
    afterwards either way. Returns the number of rows written."""
    try:
        async with transaction(sessions, tenant=rng.organization_id) as session:
            rows = await to_file(session, rng, temporary, batch=batch, progress=progress)
        await hand_over(temporary)
        return rows
    finally:
        await asyncio.to_thread(temporary.unlink, missing_ok=True)

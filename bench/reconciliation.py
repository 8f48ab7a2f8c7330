"""Reconciliation imports at scale: a provider's FOCUS file of ``N`` lines (``DONATELLO_BENCH_RECON_ROWS``,
default 1,000,000) read into daily totals, against pyarrow reading the same file (every column, no
grouping) in the same run; and the peak RSS (``wait4``) of ``donatello reconcile`` processes on a small
file, the large one and one twice as large — flat memory means the last two are the same.

    .venv/bin/python -m bench reconciliation
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from donatello.config import Settings
from donatello.reconciliation import reading

METERS = ("DALL-E-3 Standard 1024*1024 Images", "gpt-image-1 Image Output", "Sora Video Output")
CHUNK = 10_000


def focus_chunk(index: int, rows: int) -> pa.Table:
    """``rows`` FOCUS lines in one hourly charge period (chunk ``index`` is hour ``index * 7``)."""
    start = datetime(2031, 4, 1, tzinfo=UTC) + timedelta(hours=(index * 7) % (24 * 29))
    meters = [METERS[i % 3] for i in range(rows)]
    return pa.table(
        {
            "BilledCost": pa.array(["0.04" if i % 2 else "0.0825" for i in range(rows)]),
            "BillingCurrency": pa.array(["USD" if i % 3 == 0 else "AUD" for i in range(rows)]),
            "ChargeCategory": pa.array(["Usage"] * rows),
            "ChargePeriodStart": pa.array([start.strftime("%Y-%m-%dT%H:%M:%SZ")] * rows),
            "ChargePeriodEnd": pa.array([(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")] * rows),
            "ConsumedQuantity": pa.array([str(1 + i % 2) for i in range(rows)]),
            "PricingQuantity": pa.array([str(1 + i % 2) for i in range(rows)]),
            "ProviderName": pa.array(["Microsoft"] * rows),
            "ResourceId": pa.array(
                ["/subscriptions/x/providers/Microsoft.CognitiveServices/accounts/acme"] * rows
            ),
            "ResourceName": pa.array(["acme-openai"] * rows),
            "ServiceName": pa.array(["Azure OpenAI Service"] * rows),
            "SkuMeter": pa.array(meters),
            "Tags": pa.array(['{"env": "prod"}'] * rows),
            "x_SkuMeterName": pa.array(meters),
        }
    )


def write_focus_csv(path: Path, rows: int) -> Path:
    """A FOCUS CSV of ``rows`` lines, written in chunks (memory stays at one chunk)."""
    writer: pa_csv.CSVWriter | None = None
    written = 0
    while written < rows:
        chunk = focus_chunk(written // CHUNK, min(CHUNK, rows - written))
        writer = writer or pa_csv.CSVWriter(path, chunk.schema)
        writer.write_table(chunk)
        written += chunk.num_rows
    if writer is not None:
        writer.close()
    return path


def write_focus_parquet(source: Path, path: Path) -> Path:
    with pq.ParquetWriter(path, pa_csv.open_csv(source).schema) as writer:
        for batch in pa_csv.open_csv(source):
            writer.write_batch(batch)
    return path


#: Launched in a child so its RUSAGE_CHILDREN is the CLI's peak alone.
LAUNCHER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL,"
    " stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
    " sys.exit(code)"
)


def cli_peak_rss(url: str, organization_id: uuid.UUID, path: Path) -> tuple[int, int, float]:
    """Peak RSS (MiB) of one ``donatello reconcile`` process, its exit code, and its wall time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")}
    env["DONATELLO_DATABASE_URL"] = url
    donatello = str(Path(sys.executable).with_name("donatello"))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, donatello, "reconcile", "--org", str(organization_id),
         "--file", str(path), "--format", "focus"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return int(done.stdout.strip() or 0) // 1024, done.returncode, time.perf_counter() - started


def committed_organization(url: str) -> uuid.UUID:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        name = uuid.uuid4().hex[:10]
        row = conn.execute(
            "INSERT INTO organizations (name, domain, settings) VALUES (%s, %s, %s) RETURNING id",
            (f"Bench {name}", f"b{name}.com.au", '{"timezone": "Australia/Sydney"}'),
        ).fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:12,.0f} rows/s ({seconds:5.2f} s)"


async def run(url: str, settings: Settings) -> None:
    rows = int(os.environ.get("DONATELLO_BENCH_RECON_ROWS", "1000000"))
    with tempfile.TemporaryDirectory(prefix="recon-bench-", dir="/tmp") as folder:
        big = write_focus_csv(Path(folder) / "focus.csv", rows)
        small = write_focus_csv(Path(folder) / "small.csv", 10_000)
        double = write_focus_csv(Path(folder) / "double.csv", 2 * rows)
        parquet = write_focus_parquet(big, Path(folder) / "focus.parquet")
        print(
            f"FOCUS CSV {big.stat().st_size / 2**20:.0f} MiB, Parquet {parquet.stat().st_size / 2**20:.0f} MiB"
        )
        for name, path, baseline in (
            ("csv", big, lambda p: sum(b.num_rows for b in pa_csv.open_csv(p))),
            ("parquet", parquet, lambda p: sum(b.num_rows for b in pq.ParquetFile(p).iter_batches())),
        ):
            started = time.perf_counter()
            assert baseline(path) == rows
            base = time.perf_counter() - started
            started = time.perf_counter()
            totals = reading.read(path, "focus", "Australia/Sydney")
            ours = time.perf_counter() - started
            assert totals.rows == rows
            print(
                f"read FOCUS {name:<8} daily totals {_rate(rows, ours)}   pyarrow reading the same file"
                f" {_rate(rows, base)}   ratio {base / ours:.2f}"
            )
        organization_id = committed_organization(url)
        small_rss, _, small_s = cli_peak_rss(url, organization_id, small)
        big_rss, code, big_s = cli_peak_rss(url, organization_id, big)
        double_rss, _, double_s = cli_peak_rss(url, organization_id, double)
        print(
            f"peak RSS  donatello reconcile  10,000 lines {small_rss:4d} MiB ({small_s:5.1f} s)"
            f"   {rows:,} lines {big_rss:4d} MiB ({big_s:5.1f} s, exit {code})"
            f"   {2 * rows:,} lines {double_rss:4d} MiB ({double_s:5.1f} s)"
        )
        print(f"bench process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")

"""Provider files as they come: FOCUS 1.0 and 1.2 column names, Azure's seven-digit fractions and
scientific notation, Parquet timestamps and doubles, lower-case currencies; what cannot be read is
refused with the reason, never half imported."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from donatello.reconciliation import reading
from donatello.reconciliation.errors import UnreadableFile

SYDNEY = "Australia/Sydney"


def test_a_focus_1_0_csv_is_summed_per_local_day_meter_and_currency(tmp_path: Path) -> None:
    path = tmp_path / "focus10.csv"
    path.write_text(
        "ChargePeriodStart,BilledCost,BillingCurrency,x_SkuMeterName,ConsumedQuantity\n"
        "2031-04-05T13:00:00.0000000Z,4E-2,usd,Meter A,1\n"  # 00:00 on the 6th in Sydney (AEDT)
        "2031-04-05T12:00:00.0000000Z,0.0123456789012345,USD,Meter A,\n"
        "2031-04-05T12:00:00Z,1.5,AUD,Meter A,2\n",
        encoding="utf-8-sig",
    )
    totals = reading.read(path, "focus", SYDNEY)
    sums = {(g.day, g.currency, g.keys): (s.cost, s.quantity, s.lines) for g, s in totals.groups.items()}
    assert sums == {
        (date(2031, 4, 6), "USD", ("Meter A",)): (Decimal("0.04"), Decimal(1), 1),
        (date(2031, 4, 5), "USD", ("Meter A",)): (Decimal("0.0123456789012345"), None, 1),
        (date(2031, 4, 5), "AUD", ("Meter A",)): (Decimal("1.5"), Decimal(2), 1),
    }
    assert totals.rows == 3


def test_a_parquet_file_with_timestamps_and_doubles_keeps_decimal_cents(tmp_path: Path) -> None:
    starts = [datetime(2031, 4, 6, 14, tzinfo=UTC)] * 3  # the 7th in Sydney, after DST ended (+10)
    table = pa.table(
        {
            "ChargePeriodStart": pa.array(starts, pa.timestamp("us", tz="UTC")),
            "BilledCost": pa.array([0.1, 0.2, 0.3]),
            "BillingCurrency": pa.array(["AUD"] * 3),
            "ResourceName": pa.array(["acme-openai"] * 3),
            "SkuMeter": pa.array(["gpt-image-1 Image Output"] * 3),
        }
    )
    path = tmp_path / "focus.parquet"
    pq.write_table(table, path, row_group_size=1)
    ((group, found),) = reading.read(path, "focus", SYDNEY).groups.items()
    assert found.cost == Decimal("0.6")  # 0.1 + 0.2 + 0.3 as decimals, not 0.6000000000000001
    assert group.day == date(2031, 4, 7)
    assert group.keys == ("acme-openai/gpt-image-1 Image Output", "gpt-image-1 Image Output", "acme-openai")


@pytest.mark.parametrize(
    ("file_format", "content", "reason"),
    [
        ("focus", "BilledCost,BillingCurrency,SkuMeter\n1,USD,m\n", "ChargePeriodStart"),
        ("focus", "ChargePeriodStart,BilledCost,BillingCurrency\n2031-04-03,1,USD\n", "one of the columns"),
        ("focus", "ChargePeriodStart,BilledCost,BillingCurrency,SkuMeter\nyesterday,1,USD,m\n", "ISO 8601"),
        (
            "focus",
            "ChargePeriodStart,BilledCost,BillingCurrency,SkuMeter\n2031-04-03,1,dollars,m\n",
            "ISO 4217",
        ),
        ("generic", "date,model,cost,currency\n03/04/2031,a/b,1,AUD\n", "YYYY-MM-DD"),
        ("generic", "date,model,cost,currency\n2031-04-03,a/b,one,AUD\n", "could not be read"),
        ("generic", "", "empty"),
    ],
)
def test_what_cannot_be_read_is_refused_with_the_reason(
    tmp_path: Path, file_format: str, content: str, reason: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(UnreadableFile, match=reason):
        reading.read(path, file_format, SYDNEY)

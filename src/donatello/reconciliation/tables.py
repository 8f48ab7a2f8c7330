"""The comparison as one CSV: every day x model row, then every provider line with the FX rate used."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from donatello.models import ReconciliationLine, ReconciliationRow

HEADER = (
    "kind",
    "day",
    "provider",
    "model",
    "source_key",
    "status",
    "currency",
    "provider_cost",
    "fx_rate",
    "fx_rate_date",
    "fx_rate_source",
    "provider_aud",
    "charged_aud",
    "drift_aud",
    "drift_percent",
    "provider_quantity",
    "charged_images",
    "flagged",
)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def to_csv(rows: Sequence[ReconciliationRow], lines: Sequence[ReconciliationLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(
            [
                "day_model",
                row.day,
                row.provider_name,
                row.model_name,
                "",
                "flagged" if row.flagged else "ok",
                "AUD",
                "",
                "",
                "",
                "",
                row.provider_aud,
                row.charged_aud,
                row.drift_aud,
                _text(row.drift_percent),
                _text(row.provider_quantity),
                row.charged_images,
                "true" if row.flagged else "false",
            ]
        )
    for line in lines:
        writer.writerow(
            [
                "provider_line",
                line.day,
                _text(line.provider_name),
                _text(line.model_name),
                line.source_key,
                line.status,
                line.currency,
                line.cost,
                _text(line.fx_rate),
                _text(line.fx_rate_date),
                _text(line.fx_rate_source),
                _text(line.cost_aud),
                "",
                "",
                "",
                _text(line.quantity),
                "",
                "",
            ]
        )
    return out.getvalue()

"""The comparison as one CSV: every day x model row, then every provider line with the FX rate used.
Names come from the provider's uploaded file, so every cell goes through ``core.spreadsheets.cell``:
numbers stay numbers, text a spreadsheet would run is made inert."""

from __future__ import annotations

from collections.abc import Sequence

from donatello.core.spreadsheets import csv_row
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


def to_csv(rows: Sequence[ReconciliationRow], lines: Sequence[ReconciliationLine]) -> str:
    out = [csv_row(HEADER)]
    for row in rows:
        out.append(
            csv_row(
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
                    row.drift_percent,
                    row.provider_quantity,
                    row.charged_images,
                    "true" if row.flagged else "false",
                ]
            )
        )
    for line in lines:
        out.append(
            csv_row(
                [
                    "provider_line",
                    line.day,
                    line.provider_name,
                    line.model_name,
                    line.source_key,
                    line.status,
                    line.currency,
                    line.cost,
                    line.fx_rate,
                    line.fx_rate_date,
                    line.fx_rate_source,
                    line.cost_aud,
                    "",
                    "",
                    "",
                    line.quantity,
                    "",
                    "",
                ]
            )
        )
    return "".join(out)

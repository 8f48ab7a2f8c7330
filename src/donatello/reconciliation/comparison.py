"""The comparison itself, with no I/O: provider lines mapped to our models and converted to AUD, then set
against what we charged, per local day x model.

A row is flagged when its drift is beyond **both** tolerances — more than ``tolerance_aud`` in absolute
terms and more than ``tolerance_percent`` of what we charged — so a few cents on a small day and a small
percentage on a large one both pass. A line that maps to no model, has no FX rate for its day, or lies
outside the period is kept and listed, never dropped.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from donatello.core.money import to_ledger_precision
from donatello.reconciliation.errors import InvalidReconciliation
from donatello.reconciliation.reading import Totals

Model = tuple[str, str]  # (provider, model) as in model_providers
DEFAULT_TOLERANCE_AUD = Decimal("1.00")
DEFAULT_TOLERANCE_PERCENT = Decimal("2")
HUNDREDTH = Decimal("0.01")
MAX_PERCENT = Decimal(10) ** 9  # drift_percent's NUMERIC(12, 2) holds less than 10^10


@dataclass(frozen=True)
class Config:
    """What an import runs with, frozen at upload (organization settings ``reconciliation``)."""

    provider: str
    mappings: dict[str, str]  # lower-cased deployment / meter / resource -> "provider/model"
    tolerance_aud: Decimal
    tolerance_percent: Decimal
    period_from: date | None
    period_to: date | None

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "mappings": dict(sorted(self.mappings.items())),
            "tolerance_aud": str(self.tolerance_aud),
            "tolerance_percent": str(self.tolerance_percent),
            "period_from": self.period_from.isoformat() if self.period_from else None,
            "period_to": self.period_to.isoformat() if self.period_to else None,
        }

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Config:
        def day(value: Any) -> date | None:
            return date.fromisoformat(value) if value else None

        return cls(
            provider=str(data["provider"]),
            mappings=dict(data.get("mappings") or {}),
            tolerance_aud=Decimal(str(data["tolerance_aud"])),
            tolerance_percent=Decimal(str(data["tolerance_percent"])),
            period_from=day(data.get("period_from")),
            period_to=day(data.get("period_to")),
        )


def config_for(
    organization_settings: Mapping[str, Any],
    provider: str,
    period: tuple[date, date] | None,
    *,
    keep_case: bool = False,
) -> Config:
    """The organization's reconciliation settings — ``{"reconciliation": {"mappings": {"<deployment or
    meter>": "provider/model"}, "tolerance_aud": "1.00", "tolerance_percent": "2"}}`` — for one import."""
    section = organization_settings.get("reconciliation") or {}
    if not isinstance(section, Mapping):
        raise InvalidReconciliation("the organization's reconciliation settings are not an object")
    raw = section.get("mappings") or {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise InvalidReconciliation(
            'reconciliation mappings must be {"<deployment or meter>": "provider/model"}'
        )
    try:
        tolerance_aud = Decimal(str(section.get("tolerance_aud", DEFAULT_TOLERANCE_AUD)))
        tolerance_percent = Decimal(str(section.get("tolerance_percent", DEFAULT_TOLERANCE_PERCENT)))
    except InvalidOperation:
        raise InvalidReconciliation("reconciliation tolerances must be numbers") from None
    if (
        not (tolerance_aud.is_finite() and tolerance_percent.is_finite())
        or min(tolerance_aud, tolerance_percent) < 0
    ):
        raise InvalidReconciliation("reconciliation tolerances must be zero or more")
    return Config(
        provider=provider,
        mappings={
            (str(key).strip() if keep_case else str(key).strip().lower()): value.strip()
            for key, value in raw.items()
        },
        tolerance_aud=tolerance_aud,
        tolerance_percent=tolerance_percent,
        period_from=period[0] if period else None,
        period_to=period[1] if period else None,
    )


@dataclass(frozen=True)
class Rate:
    rate: Decimal
    effective_date: date | None
    source: str


class RateBook:
    """FX rates into AUD by day: the newest rate effective on or before the day (AUD is 1)."""

    def __init__(self, rates: Mapping[str, list[tuple[date, Decimal, str]]]) -> None:
        self._rates = {currency: sorted(rows) for currency, rows in rates.items()}

    def on(self, currency: str, day: date) -> Rate | None:
        if currency == "AUD":
            return Rate(Decimal(1), None, "AUD")
        rows = self._rates.get(currency) or []
        index = bisect.bisect_right(rows, (day, Decimal("Infinity"), "\U0010ffff")) - 1
        if index < 0:
            return None
        effective, rate, source = rows[index]
        return Rate(rate, effective, source)


@dataclass
class Outcome:
    period_from: date | None
    period_to: date | None
    lines: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    provider_total_aud: Decimal = Decimal(0)
    charged_total_aud: Decimal = Decimal(0)

    @property
    def flagged(self) -> int:
        return sum(1 for row in self.rows if row["flagged"])

    @property
    def unmapped(self) -> int:
        return sum(1 for line in self.lines if line["status"] != "mapped")


def resolve(candidates: tuple[str, ...], config: Config, catalogue: set[Model]) -> Model | None:
    """The model a line is for: the first candidate the organization mapped, or one that already names
    a catalogue model as ``provider/model``; a mapping to a model not in the catalogue maps nothing."""
    for candidate in candidates:
        target = config.mappings.get(candidate.lower(), candidate)
        provider, _, model = target.partition("/")
        if (provider, model) in catalogue:
            return provider, model
    return None


def compare(
    totals: Totals,
    config: Config,
    catalogue: set[Model],
    rates: RateBook,
    charged: Mapping[tuple[date, str, str], tuple[Decimal, int]],
) -> Outcome:
    """Map, convert and compare. ``charged``: our net AUD and images per (day, provider, model) over the
    period (the caller reads it for ``period_of``)."""
    first, last = period_of(totals, config)
    outcome = Outcome(first, last)
    provider_side: dict[tuple[date, str, str], list[Any]] = {}
    for group, found in sorted(totals.groups.items(), key=lambda item: (item[0].day, item[0].label)):
        model = resolve(group.keys, config, catalogue)
        rate = rates.on(group.currency, group.day)
        in_period = first is not None and last is not None and first <= group.day <= last
        status = (
            "outside-period"
            if not in_period
            else "unmapped"
            if model is None
            else "no-rate"
            if rate is None
            else "mapped"
        )
        cost_aud = found.cost * rate.rate if rate is not None else None
        outcome.lines.append(
            {
                "day": group.day,
                "source_key": group.label[:500],
                "provider_name": model[0] if model else None,
                "model_name": model[1] if model else None,
                "status": status,
                "currency": group.currency,
                "cost": found.cost,
                "quantity": found.quantity,
                "line_count": found.lines,
                "fx_rate": rate.rate if rate else None,
                "fx_rate_date": rate.effective_date if rate else None,
                "fx_rate_source": rate.source if rate else None,
                "cost_aud": to_ledger_precision(cost_aud) if cost_aud is not None else None,
            }
        )
        if status == "mapped" and model is not None and cost_aud is not None:
            entry = provider_side.setdefault((group.day, *model), [Decimal(0), None])
            entry[0] += cost_aud
            if found.quantity is not None:
                entry[1] = (entry[1] or Decimal(0)) + found.quantity
    for key in sorted({*provider_side, *charged}):
        provider_aud = to_ledger_precision(provider_side.get(key, [Decimal(0)])[0])
        quantity = provider_side.get(key, [None, None])[1]
        charged_aud, images = charged.get(key, (Decimal(0), 0))
        outcome.rows.append(
            _row(key, provider_aud, quantity, to_ledger_precision(charged_aud), images, config)
        )
        outcome.provider_total_aud += provider_aud
        outcome.charged_total_aud += to_ledger_precision(charged_aud)
    return outcome


def period_of(totals: Totals, config: Config) -> tuple[date | None, date | None]:
    """The period compared: the one asked for, else the days the file covers."""
    if config.period_from and config.period_to:
        return config.period_from, config.period_to
    days = [group.day for group in totals.groups]
    return (min(days), max(days)) if days else (None, None)


def _row(
    key: tuple[date, str, str],
    provider_aud: Decimal,
    quantity: Decimal | None,
    charged_aud: Decimal,
    images: int,
    config: Config,
) -> dict[str, Any]:
    drift = provider_aud - charged_aud
    percent = (drift * 100 / charged_aud).quantize(HUNDREDTH, ROUND_HALF_EVEN) if charged_aud else None
    if percent is not None and abs(percent) >= MAX_PERCENT:  # against a few hundredths of a cent
        percent = None
    beyond_amount = abs(drift) > config.tolerance_aud
    beyond_share = percent is None or abs(percent) > config.tolerance_percent
    return {
        "day": key[0],
        "provider_name": key[1],
        "model_name": key[2],
        "provider_aud": provider_aud,
        "charged_aud": charged_aud,
        "provider_quantity": quantity,
        "charged_images": images,
        "drift_aud": drift,
        "drift_percent": percent,
        "flagged": bool(drift) and beyond_amount and beyond_share,
    }

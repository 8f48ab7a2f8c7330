"""Both FOCUS exports pass the FinOps Foundation's own conformance checker (focus-validator, FOCUS 1.2):
charges, refunds and corrections, several departments, the Sydney DST days; no rule fails but the one
the validator fails on every dataset with an InvoiceId column (``VALIDATOR_DEFECTS``).

The checker runs from its own Python >= 3.12 environment (``make focus-validator`` builds
``.venv-focus/`` from ``tests/support/focus/requirements.lock``), offline (``--block-download``), in a working
directory holding the ISO 4217 list it reads from ``focus_validator/rules/currency_codes.csv``.
The applicability criteria declared are what DonatelloAI does: it names billing accounts, has sub
accounts (departments), tags and resource types, publishes unit prices (the model catalogue) that are
also the contracted ones, and prices some models in USD while billing AUD. Not declared:
``USAGE_MEASUREMENT_SUPPORTED`` (although ConsumedQuantity/ConsumedUnit are given): in the 1.2 model
ConsumedQuantity-C-006-C's condition is inverted (the text says "when ChargeClass is not Correction", the
check fires when it is), so every refund (ChargeClass "Correction", ConsumedQuantity NULL) would fail it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import settlement
from donatello.exports import files as exports
from donatello.models import User
from donatello.pricing import service as pricing
from donatello.providers import TokenUsage, candidates
from tests.pricing.token_world import NEGATIVE, PROMPT, token_priced_model
from tests.support import factories, workers
from tests.support.ledger import admit, principal_of, usd_quote
from tests.support.reports_world import build

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / ".venv-focus" / "bin" / "focus-validator"
CURRENCY_CODES = ROOT / "tests" / "support" / "focus" / "currency_codes.csv"
_KINDS = text(
    "SELECT DISTINCT kind, department_id, pricing_currency FROM cost_events WHERE organization_id = :o"
)
SUMMARY = re.compile(r"Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)")
RULE = re.compile(r"^\S+ ([\w-]+): (PASS|FAIL|SKIPPED)\b", re.MULTILINE)
CRITERIA = ",".join(
    (
        "ACCOUNT_NAMING_SUPPORTED",
        "SUB_ACCOUNT_SUPPORTED",
        "TAGGING_SUPPORTED",
        "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",
        "PUBLIC_PRICE_LIST_SUPPORTED",
        "UNIT_PRICING_SUPPORTED",
        "NEGOTIATED_PRICING_SUPPORTED",
        "PRICING_BILLING_CURRENCY_DIFFERENCES_SUPPORTED",
    )
)
#: Rules focus-validator 2.2.1 fails on any dataset that has the column, whatever it holds, with the rule
#: that governs them passing. InvoiceId's nullability (C-003) is an OR of "null when the charge has no
#: invoice" (C-004) and "not null when it has one" (C-005); whether a charge has an invoice is not in the
#: data, and the validator also runs each branch alone, unconditionally: all-NULL fails C-005, all-set
#: fails C-004, a mix fails both. Ours is NULL (no invoice is issued for an internal chargeback; FOCUS says
#: null then). Each entry names the rule that must pass instead; a defect that stops occurring fails the
#: test, so the list cannot go stale.
VALIDATOR_DEFECTS = {"InvoiceId-C-005-C": "InvoiceId-C-003-C"}


_METERED = text("SELECT count(*) FROM cost_events WHERE organization_id = :o AND usage IS NOT NULL")


async def _charged_by_tokens(db: AsyncSession, member: User, at: datetime) -> None:
    model = await token_priced_model(db)
    [first, *_] = await candidates(
        db, None, f"azure-openai/{model.model_name}", "1536x1024", "hd", 2,
        input_bound=pricing.input_text_bound(PROMPT, NEGATIVE),
    )  # fmt: skip
    for output_tokens in (11800, 13000, None):
        usage = TokenUsage(60, 0, output_tokens, {"output_tokens": output_tokens}) if output_tokens else None
        held = await admit(db, member, str(first.quote.total_aud), at=at)
        await settlement.settle(db, held.holds[0].generation_id, first.quote, usage=usage, at=at)


@dataclass(frozen=True)
class Verdict:
    total: int
    passed: int
    failed: int
    skipped: int
    report: str

    def statuses(self) -> dict[str, str]:
        return dict(RULE.findall(self.report))

    def failures(self) -> str:
        return self.report.partition("--- Failures ---")[2].strip()


@pytest.fixture(scope="session")
def focus_checker() -> Path:
    """The checker's executable, its environment built first when missing (as ``make test`` does)."""
    with workers.machine_lock("focus-validator"):  # pytest-xdist workers must not build it twice at once
        if not CHECKER.exists():
            subprocess.run(["make", "--no-print-directory", "focus-validator"], cwd=ROOT, check=True)
    return CHECKER


def _check(checker: Path, data: Path, workdir: Path) -> Verdict:
    rules = workdir / "focus_validator" / "rules"
    rules.mkdir(parents=True)
    shutil.copy(CURRENCY_CODES, rules / "currency_codes.csv")
    done = subprocess.run(
        [
            *(str(checker), "--data-file", str(data), "--validate-version", "1.2"),
            *("--block-download", "--applicability-criteria", CRITERIA),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=300,
    )
    found = SUMMARY.search(done.stdout)
    assert done.returncode == 0 and found, f"the checker did not report:\n{done.stdout}\n{done.stderr}"
    total, passed, failed, skipped = (int(n) for n in found.groups())
    return Verdict(total, passed, failed, skipped, done.stdout)


async def test_both_focus_formats_pass_the_foundations_validator(
    db: AsyncSession, focus_checker: Path, tmp_path: Path
) -> None:
    world = await build(db)  # Sydney (DST) and Perth; 2 departments each; refunds and corrections
    org = world.orgs[0]
    # and a model priced in USD (billed in AUD), charged and partly refunded
    member, admin = await factories.colleague(db, world.members["finance"]), world.members["org_admin"]
    member.cost_center = "CC-4410"  # its charges are tagged with the cost centre; the world's are not
    await db.flush()
    at = datetime(2026, 4, 5, 3, tzinfo=UTC)  # 5 April: the day Sydney leaves daylight saving
    charge = await settlement.settle(
        db,
        (await admit(db, member, "0.1218", at=at)).holds[0].generation_id,
        usd_quote("0.04", "1.5234", 2),
        at=at,
    )
    await settlement.amend(db, principal_of(admin), charge.id, Decimal("0.0609"), "refund", "blank", at=at)
    # and a model billed by tokens: charged from its usage, capped at its hold, and without usage
    await _charged_by_tokens(db, member, at)
    files = {}
    for fmt in ("focus-csv", "focus"):
        rng = exports.ExportRange(
            org.id, org.name, "Australia/Sydney", datetime(2026, 3, 1, tzinfo=UTC),
            datetime(2026, 11, 1, tzinfo=UTC), None, fmt,
        )  # fmt: skip
        files[fmt] = tmp_path / rng.filename()
        rows = await exports.to_file(db, rng, files[fmt])
    kinds = (await db.execute(_KINDS, {"o": org.id})).all()
    assert {kind for kind, _, _ in kinds} == {"charge", "refund", "correction"} and rows > 50
    assert await db.scalar(_METERED, {"o": org.id}) == 2
    assert len({department for _, department, _ in kinds}) >= 2
    assert {currency for _, _, currency in kinds} == {"AUD", "USD"}

    verdicts = await asyncio.gather(
        *(
            asyncio.to_thread(_check, focus_checker, path, tmp_path / f"run-{fmt}")
            for fmt, path in files.items()
        )
    )
    summaries = [
        f"{fmt}: Total {v.total} | Pass {v.passed} | Fail {v.failed} | Skipped {v.skipped}"
        for fmt, v in zip(files, verdicts, strict=True)
    ]
    logging.getLogger(__name__).info("focus-validator totals: %s", "; ".join(summaries))
    for verdict in verdicts:
        statuses = verdict.statuses()
        failed = {rule for rule, status in statuses.items() if status == "FAIL"}
        assert len(statuses) == verdict.total and len(failed) == verdict.failed
        assert failed == set(VALIDATOR_DEFECTS), f"{summaries}: rules failed:\n{verdict.failures()}"
        assert all(statuses[governing] == "PASS" for governing in VALIDATOR_DEFECTS.values())
        assert verdict.passed > 140  # the rules ran on our columns, not on an empty or unread file

"""Reconciliation in a real browser: finance uploads the provider's FOCUS export in which one day x model
was billed differently, sees exactly that row flagged (first), the meter nobody mapped with what to do
about it, and downloads the comparison; a file that cannot be read is the form again with what was
chosen; without script the form still posts; nobody else reaches the page, and another tenant's
reconciliation is not found."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import text

from donatello.core.database import create_engine
from tests.support.browser import looks_right
from tests.support.idp import EntraUser
from tests.support.live_server import LiveServer
from tests.web.reconciliation_ledger import MODELS, RESOURCE, charge_ledger, days, focus_csv, meter
from tests.web.world import GLOBEX_TID, World, _run, api_as

RESULT_URL = re.compile(r"/reconciliations/[0-9a-f-]{36}$")
WATCH_PROGRESS = """() => {
  const status = document.querySelector("[data-upload-status]");
  const bar = document.getElementById("upload-bar");
  new MutationObserver(() => window.reportUpload(`${status.textContent} (${bar.value})`))
    .observe(status, {childList: true, characterData: true, subtree: true});
}"""


def _map_meters(live_server: LiveServer, web_database: str) -> None:
    with api_as(live_server, web_database, "finance") as api:
        mappings = {f"{RESOURCE}/{meter(model)}": f"azure-openai/{model}" for model in MODELS}
        answer = api.put("/v1/reconciliation-settings", json={"mappings": mappings})
        assert answer.status_code == 200, answer.text


def _browser_client(live_server: LiveServer, page: Page) -> httpx.Client:
    """The signed-in browser's cookies in a client that runs no script: what a plain form post sends."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return httpx.Client(
        base_url=live_server.url,
        cookies=cookies,
        headers={"Origin": live_server.url},
        trust_env=False,
        timeout=60,
        follow_redirects=False,
    )


def _csrf(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.input_value()


def test_finance_uploads_a_focus_file_and_sees_exactly_the_changed_day_flagged(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
    tmp_path: Path,
) -> None:
    settings = live_server.settings
    charges = charge_ledger(web_database, settings.database_app_role, settings.default_timezone)
    _map_meters(live_server, web_database)
    changed_day, changed_model = days(settings.default_timezone)[1], "gpt-image-1.5"
    bill = focus_csv(charges, tmp_path / "acme-focus.csv", extra={(changed_day, changed_model): Decimal("3")})

    page = sign_in(World.acme("finance"), "/")
    page.get_by_role("link", name="Reconciliations").click()
    expect(page.get_by_text("No reconciliations yet.")).to_be_visible()
    expect(page.get_by_label("Provider billed")).to_have_value("azure-openai")
    looks_right(page, "reconciliations-upload-form")

    page.get_by_label("Cost file").set_input_files(bill)
    page.get_by_label("Format").select_option("focus")
    shown: list[str] = []  # what the upload's status line and progress bar say, as they change
    page.expose_function("reportUpload", lambda text: shown.append(text))
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Upload and compare").click()
    expect(page).to_have_url(RESULT_URL)
    assert shown[0] == "0 % sent (0)" and shown[-1] == "Sent; comparing… (100)", shown

    rows = page.get_by_test_id("compared-row")
    expect(rows).to_have_count(len(days(settings.default_timezone)) * len(MODELS))
    flagged = page.locator("[data-testid=compared-row][data-flagged=true]")
    expect(flagged).to_have_count(1)
    expect(rows.first).to_have_attribute("data-flagged", "true")  # flagged rows first
    expect(flagged).to_have_attribute("data-day", changed_day.isoformat())
    expect(flagged).to_have_attribute("data-model", f"azure-openai/{changed_model}")
    # billed A$4.00 for the A$1.00 we charged: A$3.00 and 300 % over
    expect(flagged.locator("[data-label=Drift]")).to_have_text("A$3.00")
    expect(flagged.locator("[data-label='Drift %']")).to_have_text("300.00 %")
    expect(page.get_by_test_id("flagged-count")).to_have_text("1 flagged")
    expect(page.get_by_test_id("total-drift")).to_have_text("A$3.00")  # lines left out are not in it
    left_out = page.get_by_test_id("left-out-line")
    expect(left_out).to_have_count(1)
    expect(left_out).to_contain_text("Fine-tuning Hosting Hours")
    expect(left_out).to_contain_text("map its meter")
    expect(page.get_by_role("heading", name="Settings used")).to_be_visible()
    expect(page.get_by_text(f"{RESOURCE}/{meter(changed_model)}")).to_be_visible()
    looks_right(page, "reconciliation-result")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the comparison (CSV)").click()
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    compared = [row for row in table if row["kind"] == "day_model"]
    assert len(compared) == 6
    assert [(r["day"], r["model"]) for r in compared if r["flagged"] == "true"] == [
        (changed_day.isoformat(), changed_model)
    ]
    flagged_row = next(r for r in compared if r["flagged"] == "true")
    assert (Decimal(flagged_row["provider_aud"]), Decimal(flagged_row["charged_aud"])) == (
        Decimal("4"),
        Decimal("1"),
    )
    assert all(Decimal(r["drift_aud"]) == 0 for r in compared if r["flagged"] == "false")
    unmapped = [row for row in table if row["kind"] == "provider_line" and row["status"] == "unmapped"]
    assert [row["source_key"] for row in unmapped] == [f"{RESOURCE} · Fine-tuning Hosting Hours"]

    page.get_by_role("link", name="← All reconciliations").click()
    listed = page.get_by_test_id("reconciliation")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("finance@acme.com.au")
    expect(listed).to_contain_text("acme-focus.csv")
    expect(listed).to_contain_text("1 flagged")
    looks_right(page, "reconciliations-list")
    assert page_errors == []


def test_an_unreadable_file_is_the_form_again_and_a_plain_post_is_redirected(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("date,model,cost,currency\n2031-04-03,azure-openai/gpt-image-1.5,NaN,AUD\n")
    page = sign_in(World.acme("org_admin"), "/reconciliations")
    page.get_by_label("Cost file").set_input_files(broken)
    page.get_by_label("Format").select_option("generic")
    page.get_by_label("Provider billed").fill("azure-openai")
    page.get_by_label("Period (optional)").fill("2031-04")
    page.get_by_role("button", name="Upload and compare").click()
    problem = page.get_by_test_id("upload-problem")
    expect(problem).to_contain_text("row 1: cost 'NaN' is not a number")
    expect(page.get_by_label("Format")).to_have_value("generic")  # the choices stay
    expect(page.get_by_label("Period (optional)")).to_have_value("2031-04")
    looks_right(page, "reconciliations-unreadable")

    good = tmp_path / "good.csv"
    good.write_text("date,model,cost,currency\n2031-04-03,azure-openai/gpt-image-1.5,1.25,AUD\n")
    with _browser_client(live_server, page) as client:
        fields = {
            "csrf_token": _csrf(page),
            "provider": "azure-openai",
            "format": "generic",
            "period": "2031-04",
        }
        refused = client.post(
            "/reconciliations", data=fields, files={"file": ("broken.csv", broken.read_bytes(), "text/csv")}
        )
        assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
        assert "row 1: cost &#39;NaN&#39; is not a number" in refused.text
        assert 'value="2031-04"' in refused.text and '<option value="generic" selected>' in refused.text
        accepted = client.post(
            "/reconciliations", data=fields, files={"file": ("good.csv", good.read_bytes(), "text/csv")}
        )
        assert accepted.status_code == 303 and RESULT_URL.search(accepted.headers["location"])
        again = client.post(
            "/reconciliations", data=fields, files={"file": ("good.csv", good.read_bytes(), "text/csv")}
        )
        assert again.headers["location"] == accepted.headers["location"]  # the same file: the same result
        settings = live_server.settings
        largest = settings.reconciliation_max_upload_bytes
        settings.reconciliation_max_upload_bytes = 64  # the route's own limit, to the byte
        try:
            too_large = client.post(
                "/reconciliations", data=fields, files={"file": ("good.csv", good.read_bytes(), "text/csv")}
            )
        finally:
            settings.reconciliation_max_upload_bytes = largest
        assert too_large.status_code == 413 and too_large.headers["content-type"].startswith("text/html")
        assert (
            "cost files are accepted up to 64 bytes" in too_large.text and 'value="2031-04"' in too_large.text
        )
        forged = client.post(
            "/reconciliations",
            data={**fields, "csrf_token": "forged"},
            files={"file": ("good.csv", good.read_bytes(), "text/csv")},
        )
        assert forged.status_code == 403
        elsewhere = client.post(
            "/reconciliations",
            data=fields,
            files={"file": ("good.csv", good.read_bytes(), "text/csv")},
            headers={"Origin": "https://attacker.example"},
        )
        assert elsewhere.status_code == 403 and "sent from another site" in elsewhere.text
    page.goto(live_server.url + "/reconciliations")
    expect(page.get_by_test_id("reconciliation")).to_have_count(1)  # nothing of the refused ones kept
    # the browser logs the refused upload's status; no script failed
    assert page_errors == [
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ]


def test_a_large_file_is_queued_and_its_place_in_the_list_turns_into_the_result(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
    tmp_path: Path,
) -> None:
    settings = live_server.settings
    charges = charge_ledger(web_database, settings.database_app_role, settings.default_timezone)
    _map_meters(live_server, web_database)
    changed_day = days(settings.default_timezone)[2]
    bill = focus_csv(charges, tmp_path / "large.csv", extra={(changed_day, "gpt-image-1-mini"): Decimal("2")})
    inline = settings.reconciliation_inline_max_bytes
    settings.reconciliation_inline_max_bytes = 1024  # this file is "large": the worker compares it
    try:
        page = sign_in(World.acme("finance"), "/reconciliations")
        page.get_by_label("Cost file").set_input_files(bill)
        page.get_by_role("button", name="Upload and compare").click()
        expect(page).to_have_url(re.compile(r"/reconciliations\?queued=[0-9a-f-]{36}$"))
        expect(page.get_by_role("status")).to_contain_text("compared in the background")
        listed = page.get_by_test_id("reconciliation")
        expect(listed).to_have_count(1)
        # the list reloads itself while the import waits or runs, until the worker is done
        expect(listed).to_have_attribute("data-status", "done", timeout=30_000)
        expect(listed).to_contain_text("1 flagged")
    finally:
        settings.reconciliation_inline_max_bytes = inline
    listed.get_by_role("link").click()
    flagged = page.locator("[data-testid=compared-row][data-flagged=true]")
    expect(flagged).to_have_count(1)
    expect(flagged).to_have_attribute("data-day", changed_day.isoformat())
    expect(flagged).to_have_attribute("data-model", "azure-openai/gpt-image-1-mini")
    assert page_errors == []


def _globex_finance(web_database: str, globex_id: uuid.UUID) -> EntraUser:
    async def run() -> None:
        engine = create_engine(web_database, app_role=None, pool_size=1)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO users (organization_id, azure_ad_id, email, display_name, role, mfa_enabled)"
                        " VALUES (:org, 'globex-finance', 'finance@globex.com.au', 'Globex Finance', 'finance',"
                        " true)"
                    ),
                    {"org": globex_id},
                )
        finally:
            await engine.dispose()

    _run(run)
    return EntraUser(tid=GLOBEX_TID, oid="globex-finance", preferred_username="finance@globex.com.au")


def test_only_finance_and_admins_reach_reconciliations_and_another_tenants_is_not_found(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    tmp_path: Path,
) -> None:
    bill = tmp_path / "bill.csv"
    bill.write_text("date,model,cost,currency\n2031-04-03,azure-openai/gpt-image-1.5,1.25,AUD\n")
    finance = sign_in(World.acme("finance"), "/reconciliations")
    finance.get_by_label("Cost file").set_input_files(bill)
    finance.get_by_label("Format").select_option("generic")
    finance.get_by_role("button", name="Upload and compare").click()
    expect(finance).to_have_url(RESULT_URL)
    theirs = finance.url
    with _browser_client(live_server, finance) as client:  # twenty more, each a different file
        for n in range(1, 21):
            line = f"2031-04-{n:02d},azure-openai/gpt-image-1.5,1.30,AUD\n"
            answer = client.post(
                "/reconciliations",
                data={"csrf_token": _csrf(finance), "provider": "azure-openai", "format": "generic"},
                files={"file": (f"bill-{n}.csv", "date,model,cost,currency\n" + line, "text/csv")},
            )
            assert answer.status_code == 303, answer.text
    finance.goto(live_server.url + "/reconciliations")
    listed = finance.get_by_test_id("reconciliation")
    expect(listed).to_have_count(20)
    expect(listed.first).to_contain_text("bill-20.csv")  # newest first
    finance.get_by_role("link", name="Older reconciliations").click()
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("bill.csv")

    # Signed in after finance's upload: in the harness's single-process Chromium, an earlier context's
    # XMLHttpRequest was seen sending the session cookie of a context opened after it.
    staff = sign_in(World.acme("standard_user"), "/")
    expect(staff.get_by_role("link", name="Reconciliations")).to_have_count(0)
    refused = staff.goto(live_server.url + "/reconciliations")
    assert refused is not None and refused.status == 403
    expect(staff.get_by_role("heading", name="Not allowed")).to_be_visible()

    other = sign_in(_globex_finance(web_database, world.globex_id), "/reconciliations")
    expect(other.get_by_text("No reconciliations yet.")).to_be_visible()
    their_page = other.goto(theirs)
    assert their_page is not None and their_page.status == 404
    expect(other.get_by_role("heading", name="Page not found")).to_be_visible()
    csv_answer = other.context.request.get(theirs + "/comparison.csv")
    assert csv_answer.status == 404

"""The models page shows how each model is doing — its success rate and latency over the last hour, its
circuit when repeated failures opened it — and where it processes prompts."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.browser import looks_right
from tests.web.world import World

MODEL = "azure-openai/gpt-image-aue"


def _failing_australian_model(web_database: str) -> None:
    """A Standard deployment in Australia East whose last five calls failed: its circuit is open."""
    engine = create_engine(web_database, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            model_id = connection.execute(
                text(
                    "INSERT INTO model_providers (provider_name, model_name, api_endpoint, cost_per_image_aud, "
                    "priority, processing_country, sla_percentage, retires_on) VALUES ('azure-openai', 'gpt-image-aue', "
                    "'https://aue.openai.azure.com/openai/deployments/gpt-image', 0.0700, 5, 'AU', 99, '2027-03-31') "
                    "RETURNING id"
                )
            ).scalar_one()
            connection.execute(
                text(
                    "INSERT INTO provider_configs (provider_id, configuration, credential) VALUES (:id, "
                    """'{"region": "australiaeast", "deployment_type": "Standard", "replaced_by": "azure-openai/gpt-image-2"}'::jsonb, """
                    """'{"kind": "environment", "variable": "AOAI_AUE_KEY"}'::jsonb)"""
                ),
                {"id": model_id},
            )
            connection.execute(
                text(
                    "INSERT INTO model_call_outcomes (provider_id, finished_at, succeeded, latency_ms) "
                    "SELECT :id, clock_timestamp() - make_interval(secs => n), n > 5, 900 + n * 100 "
                    "FROM generate_series(1, 12) AS n"
                ),
                {"id": model_id},
            )
            connection.execute(
                text(
                    "INSERT INTO model_circuits (provider_id, state, consecutive_failures, opened_at, trial_after) "
                    "VALUES (:id, 'open', 5, clock_timestamp(), clock_timestamp() + interval '10 minutes')"
                ),
                {"id": model_id},
            )
    finally:
        engine.dispose()


def test_everyone_sees_a_failing_models_open_circuit_its_health_and_where_it_processes(
    world: World, web_database: str, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    _failing_australian_model(web_database)

    for who, name in (
        (World.platform(), "models-watched-admin"),
        (World.acme("power_user"), "models-watched-staff"),
    ):
        viewer = sign_in(who, "/models")
        row = viewer.locator(f"tr[data-model='{MODEL}']")
        expect(row.get_by_test_id("processed-in")).to_have_text("AUaustraliaeast, Standard")
        expect(row.get_by_test_id("retires")).to_have_text("retires 2027-03-31; use azure-openai/gpt-image-2")
        health = row.get_by_test_id("health")
        expect(health).to_contain_text("58.33 % of 12 calls succeeded")
        expect(health).to_contain_text("p50 1800 ms, p95 2070 ms")
        expect(health.get_by_test_id("sla-breached")).to_have_text(
            "below its SLA of 99.0 %: tried after the others"
        )
        expect(health.get_by_test_id("circuit")).to_contain_text("circuit open after 5 failed calls in a row")
        looks_right(viewer, name)

    admin = sign_in(World.platform(), "/models")
    expect(admin.locator(f"tr[data-model='{MODEL}'] [data-testid=state]")).to_contain_text(
        "its circuit is open after 5 failed calls in a row"
    )
    assert page_errors == []

"""Where a model processes data, and how well it is doing.

* ``model_providers.processing_country`` (ISO 3166-1 alpha-2, NULL: anywhere), ``retires_on`` and
  ``retirement_warned_days`` (the last warning sent: 30 or 7 days before);
* ``departments.require_processing_in``: a department's data-residency rule;
* ``generations.processed_in`` / ``cost_events.processed_in``: where a generation's inference ran;
* ``model_circuits``: each model's circuit breaker, shared by every worker process;
* ``model_call_outcomes``: recent calls of each model (success, latency) for its rolling health;
* the notification kind ``provider_retiring``;
* a circuit's change of state and a department's new rule move the catalogue's version (selection caches
  both with the catalogue).

models watched and where they process

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTRY = "'^[A-Z]{2}$'"
KINDS_BEFORE = (
    "budget_request_decided",
    "budget_request_waiting",
    "budget_threshold_crossed",
    "export_ready",
    "generation_failed",
)
KINDS = (*KINDS_BEFORE, "provider_retiring")


def _kinds(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade() -> None:
    op.add_column(
        "model_providers",
        sa.Column(
            "processing_country",
            sa.String(length=2),
            nullable=True,
            comment="ISO 3166-1 alpha-2 country where inference runs; NULL = anywhere (e.g. a Global deployment)",
        ),
    )
    op.add_column(
        "model_providers",
        sa.Column(
            "retires_on", sa.Date(), nullable=True, comment="The day the model is retired; NULL = none"
        ),
    )
    op.add_column(
        "model_providers",
        sa.Column(
            "retirement_warned_days",
            sa.SmallInteger(),
            nullable=True,
            comment="Days before retires_on of the last retirement warning sent (30, then 7)",
        ),
    )
    op.create_check_constraint(
        op.f("ck_model_providers_processing_country"), "model_providers", f"processing_country ~ {COUNTRY}"
    )
    op.add_column(
        "departments",
        sa.Column(
            "require_processing_in",
            sa.String(length=2),
            nullable=True,
            comment="ISO 3166-1 alpha-2 country its generations must be processed in; NULL = anywhere",
        ),
    )
    op.create_check_constraint(
        op.f("ck_departments_require_processing_in"), "departments", f"require_processing_in ~ {COUNTRY}"
    )
    for table in ("generations", "cost_events"):
        op.add_column(
            table,
            sa.Column(
                "processed_in",
                sa.String(length=2),
                nullable=True,
                comment="ISO 3166-1 alpha-2 country where inference ran; NULL = not known (anywhere)",
            ),
        )
    op.create_table(
        "model_circuits",
        sa.Column("provider_id", sa.UUID(), nullable=False, comment="The model deployment"),
        sa.Column(
            "state",
            sa.String(length=10),
            server_default=sa.text("'closed'"),
            nullable=False,
            comment="closed: calls flow; open: no calls; half_open: one trial call is under way",
        ),
        sa.Column(
            "consecutive_failures",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Failed calls in a row since the last success",
        ),
        sa.Column("opened_at", sa.TIMESTAMP(timezone=True), nullable=True, comment="When it last opened"),
        sa.Column(
            "trial_after",
            sa.TIMESTAMP(timezone=True),
            nullable=True,
            comment="When an open circuit lets one trial call through",
        ),
        sa.Column(
            "trial_started_at",
            sa.TIMESTAMP(timezone=True),
            nullable=True,
            comment="When the half-open trial call was granted",
        ),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('closed', 'open', 'half_open')", name=op.f("ck_model_circuits_state")),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["model_providers.id"],
            name=op.f("fk_model_circuits_provider_id_model_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("provider_id", name=op.f("pk_model_circuits")),
        comment="Circuit breaker of each model, shared by every worker process",
    )
    op.create_table(
        "model_call_outcomes",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider_id", sa.UUID(), nullable=False, comment="The model deployment called"),
        sa.Column(
            "finished_at", sa.TIMESTAMP(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("succeeded", sa.Boolean(), nullable=False, comment="Whether the model answered"),
        sa.Column("latency_ms", sa.Integer(), nullable=False, comment="How long the call took"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["model_providers.id"],
            name=op.f("fk_model_call_outcomes_provider_id_model_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_call_outcomes")),
        comment="Recent calls of each model, for its rolling success rate and latency",
    )
    op.create_index(
        "idx_model_call_outcomes_provider_finished", "model_call_outcomes", ["provider_id", "finished_at"]
    )
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", _kinds(KINDS))
    # Selection caches circuits and departments' rules with the catalogue: a change of either moves the
    # catalogue's version (a circuit's failure count alone does not).
    for table, column, quiet in (
        ("model_circuits", "state", "NEW.state = 'closed'"),
        ("departments", "require_processing_in", "NEW.require_processing_in IS NULL"),
    ):
        op.execute(
            f"CREATE TRIGGER {table}_{column}_bumps_catalogue_version AFTER UPDATE ON {table} FOR EACH ROW "
            f"WHEN (OLD.{column} IS DISTINCT FROM NEW.{column}) EXECUTE FUNCTION bump_catalogue_version()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_{column}_set_bumps_catalogue_version AFTER INSERT ON {table} FOR EACH ROW "
            f"WHEN (NOT ({quiet})) EXECUTE FUNCTION bump_catalogue_version()"
        )


def downgrade() -> None:
    for table, column in (("model_circuits", "state"), ("departments", "require_processing_in")):
        op.execute(f"DROP TRIGGER {table}_{column}_set_bumps_catalogue_version ON {table}")
        op.execute(f"DROP TRIGGER {table}_{column}_bumps_catalogue_version ON {table}")
    op.execute("DELETE FROM notifications WHERE kind = 'provider_retiring'")
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", _kinds(KINDS_BEFORE))
    op.drop_index("idx_model_call_outcomes_provider_finished", table_name="model_call_outcomes")
    op.drop_table("model_call_outcomes")
    op.drop_table("model_circuits")
    for table in ("cost_events", "generations"):
        op.drop_column(table, "processed_in")
    op.drop_constraint(op.f("ck_departments_require_processing_in"), "departments", type_="check")
    op.drop_column("departments", "require_processing_in")
    op.drop_constraint(op.f("ck_model_providers_processing_country"), "model_providers", type_="check")
    op.drop_column("model_providers", "retirement_warned_days")
    op.drop_column("model_providers", "retires_on")
    op.drop_column("model_providers", "processing_country")

"""Database rules: updated_at triggers, an append-only ledger and outbox, row-level security, app role.

The second wall behind the application's own checks:

* ``updated_at`` is maintained by the database (seeds 003/004), whatever code writes the row;
* cost events can never be updated, and deleted only by the retention job (``app.retention = 'on'``
  in its transaction) — corrections and refunds are new rows;
* audit outbox rows can only be marked delivered (delivered_at / chain fields set once), never edited;
* every tenant table has row-level security: a transaction sees and writes only the organization named by
  ``app.organization_id`` (or every organization when ``app.platform_scope = 'on'``); with neither set,
  tenant tables look empty;
* the application connects as (or ``SET ROLE``s to) ``donatello_app``: not a superuser, not the owner, no
  BYPASSRLS — so the policies apply to it.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "donatello_app"

# Frozen here on purpose: a migration describes the schema as of its revision, not today's models.
TENANT_TABLES = [
    "api_keys",
    "audit_outbox",
    "department_budgets",
    "department_budget_periods",
    "budget_threshold_alerts",
    "cost_events",
    "departments",
    "generations",
    "generation_metadata",
    "users",
    "user_sessions",
    "user_preferences",
    "webhooks",
]
UPDATED_AT_TABLES = [
    "model_providers",
    "organizations",
    "departments",
    "provider_configs",
    "department_budgets",
    "users",
    "user_preferences",
    "webhooks",
]
TENANT_VISIBLE = (
    "(current_setting('app.platform_scope', true) = 'on' "
    "OR {column} = nullif(current_setting('app.organization_id', true), '')::uuid)"
)


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $$;
        """
    )
    for table in UPDATED_AT_TABLES:
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
        )

    op.execute(
        """
        CREATE FUNCTION forbid_cost_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('app.retention', true) = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'cost events are immutable: record a refund or correction instead'
                USING ERRCODE = 'integrity_constraint_violation';
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER trg_cost_events_immutable BEFORE UPDATE OR DELETE ON cost_events "
        "FOR EACH ROW EXECUTE FUNCTION forbid_cost_event_change()"
    )
    op.execute(
        "CREATE TRIGGER trg_cost_events_no_truncate BEFORE TRUNCATE ON cost_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION forbid_cost_event_change()"
    )

    op.execute(
        """
        CREATE FUNCTION guard_audit_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF OLD.delivered_at IS NOT NULL AND current_setting('app.retention', true) = 'on' THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'audit events cannot be deleted'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF OLD.delivered_at IS NOT NULL
               OR NEW.delivered_at IS NULL
               OR (OLD.chain_hash IS NOT NULL AND NEW.chain_hash IS DISTINCT FROM OLD.chain_hash)
               OR (OLD.prev_hash IS NOT NULL AND NEW.prev_hash IS DISTINCT FROM OLD.prev_hash)
               OR (NEW.id, NEW.event_id, NEW.organization_id, NEW.user_id, NEW.event_type, NEW.payload,
                   NEW.created_at)
                  IS DISTINCT FROM
                  (OLD.id, OLD.event_id, OLD.organization_id, OLD.user_id, OLD.event_type, OLD.payload,
                   OLD.created_at)
            THEN
                RAISE EXCEPTION 'audit events are append-only: only delivery may be recorded, once'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER trg_audit_outbox_append_only BEFORE UPDATE OR DELETE ON audit_outbox "
        "FOR EACH ROW EXECUTE FUNCTION guard_audit_outbox()"
    )
    op.execute(
        "CREATE TRIGGER trg_audit_outbox_no_truncate BEFORE TRUNCATE ON audit_outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION guard_audit_outbox()"
    )

    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        END $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    # Tables and sequences that later migrations create get the same rights (each adds its own RLS).
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}")
    # The ledger and the audit trail are append-only for the application as well as by trigger.
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON cost_events FROM {APP_ROLE}")
    op.execute(f"REVOKE DELETE, TRUNCATE ON audit_outbox FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {APP_ROLE}")

    for table in TENANT_TABLES:
        visible = TENANT_VISIBLE.format(column="organization_id")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} USING {visible} WITH CHECK {visible}"
        )
    visible = TENANT_VISIBLE.format(column="id")
    op.execute("ALTER TABLE organizations ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON organizations TO {APP_ROLE} USING {visible} WITH CHECK {visible}"
    )


def downgrade() -> None:
    for table in [*TENANT_TABLES, "organizations"]:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {APP_ROLE}")
    # The role is cluster-wide: keep it if another database still grants it anything.
    op.execute(
        f"""
        DO $$ BEGIN
            DROP ROLE IF EXISTS {APP_ROLE};
        EXCEPTION WHEN dependent_objects_still_exist THEN NULL;
        END $$;
        """
    )
    op.execute("DROP TRIGGER IF EXISTS trg_audit_outbox_no_truncate ON audit_outbox")
    op.execute("DROP TRIGGER IF EXISTS trg_audit_outbox_append_only ON audit_outbox")
    op.execute("DROP FUNCTION IF EXISTS guard_audit_outbox()")
    op.execute("DROP TRIGGER IF EXISTS trg_cost_events_no_truncate ON cost_events")
    op.execute("DROP TRIGGER IF EXISTS trg_cost_events_immutable ON cost_events")
    op.execute("DROP FUNCTION IF EXISTS forbid_cost_event_change()")
    for table in UPDATED_AT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_updated_at ON {table}")
    op.execute("DROP FUNCTION IF EXISTS set_updated_at()")

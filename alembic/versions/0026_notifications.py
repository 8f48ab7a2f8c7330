"""In-app notifications with their e-mail's retry state (tenant table with RLS), and the notification
fan-out's position in the audit outbox.

notifications

Revision ID: 0026
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_fanout_state",
        sa.Column("id", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("settled_outbox_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("scanned_outbox_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("checkpoint_outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("checkpoint_xmax", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_notification_fanout_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_fanout_state")),
        comment="The notification fan-out's position in audit_outbox (one row)",
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=False,
            comment="Owning organization (tenant); row-level security and tenancy scoping filter on it",
        ),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False, comment="Audit event it was derived from"),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False, comment="Plain text; never a prompt"),
        sa.Column("link", sa.String(length=500), nullable=True, comment="Path of the page it is about"),
        sa.Column("read_at", TIMESTAMP, nullable=True),
        sa.Column("email_status", sa.String(length=20), server_default=sa.text("'none'"), nullable=False),
        sa.Column("email_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "email_next_attempt_at",
            TIMESTAMP,
            nullable=True,
            comment="Due time of the next e-mail attempt (pending); pushed out by a lease while sending",
        ),
        sa.Column("email_last_error", sa.String(length=500), nullable=True),
        sa.Column("emailed_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('budget_request_decided', 'budget_request_waiting', 'budget_threshold_crossed', "
            "'export_ready', 'generation_failed')",
            name=op.f("ck_notifications_kind"),
        ),
        sa.CheckConstraint(
            "email_status IN ('none', 'pending', 'sent', 'failed')",
            name=op.f("ck_notifications_email_status"),
        ),
        sa.CheckConstraint("email_attempts >= 0", name=op.f("ck_notifications_email_attempts_nonneg")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_notifications_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        comment="In-app notifications, one per (person, event, kind), with e-mail retry state",
    )
    op.create_index(
        "ix_notifications_email_due",
        "notifications",
        ["email_next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("email_status = 'pending'"),
    )
    op.create_index("ix_notifications_user_created", "notifications", ["user_id", "created_at"], unique=False)
    op.create_index("uq_notifications_event", "notifications", ["user_id", "event_id", "kind"], unique=True)
    # Scalar subqueries: the tenant is read once per query, not once per row.
    visible = (
        "((SELECT current_setting('app.platform_scope', true)) = 'on' "
        "OR organization_id = (SELECT nullif(current_setting('app.organization_id', true), '')::uuid))"
    )
    op.execute("ALTER TABLE notifications ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON notifications TO donatello_app USING {visible} WITH CHECK {visible}"
    )
    op.execute(
        "CREATE TRIGGER trg_notification_fanout_state_updated_at BEFORE UPDATE ON notification_fanout_state "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )
    # Start after what the outbox holds today: people are told of events from now on.
    op.execute(
        "INSERT INTO notification_fanout_state (id, settled_outbox_id, scanned_outbox_id) "
        "SELECT 1, coalesce(max(id), 0), coalesce(max(id), 0) FROM audit_outbox"
    )


def downgrade() -> None:
    op.drop_index("uq_notifications_event", table_name="notifications")
    op.drop_index("ix_notifications_user_created", table_name="notifications")
    op.drop_index(
        "ix_notifications_email_due",
        table_name="notifications",
        postgresql_where=sa.text("email_status = 'pending'"),
    )
    op.drop_table("notifications")
    op.drop_table("notification_fanout_state")

"""The audit relay seals a batch (chain positions and hashes) before it ships it, and marks delivery after.

The relay writes a chain's documents to the audit store concurrently, so a relay killed mid-batch can
leave any subset of the batch stored. To make the restart re-ship exactly the same documents, the batch's
chain (``chain_seq``, ``prev_hash``, ``chain_hash``) is committed first, with ``delivered_at`` still NULL,
and ``delivered_at`` is recorded by a second update once every document is stored.

The append-only guard therefore allows, while an event is undelivered: setting its chain fields once
(never changing them, ``chain_seq`` included) and setting ``delivered_at`` once. A delivered event stays
unchangeable, and nothing but those columns may change, as before.

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GUARD = """
CREATE OR REPLACE FUNCTION guard_audit_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.delivered_at IS NOT NULL AND current_setting('app.retention', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit events cannot be deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.delivered_at IS NOT NULL
       OR {unsealed_update}
       {seq_guard}       OR (OLD.chain_hash IS NOT NULL AND NEW.chain_hash IS DISTINCT FROM OLD.chain_hash)
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

# An undelivered update must seal the event (all three chain fields); before 0020 it had to deliver it.
_SEALS = "(NEW.delivered_at IS NULL AND (NEW.chain_seq IS NULL OR NEW.chain_hash IS NULL OR NEW.prev_hash IS NULL))"
_DELIVERS = "NEW.delivered_at IS NULL"


_SEQ_KEPT = "OR (OLD.chain_seq IS NOT NULL AND NEW.chain_seq IS DISTINCT FROM OLD.chain_seq)\n"


def upgrade() -> None:
    op.execute(_GUARD.replace("{unsealed_update}", _SEALS).replace("{seq_guard}", _SEQ_KEPT))


def downgrade() -> None:
    op.execute(_GUARD.replace("{unsealed_update}", _DELIVERS).replace("{seq_guard}", ""))

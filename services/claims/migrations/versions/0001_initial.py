"""The claims schema: claims and their reports, transitions, quotes, clocks, payouts, audit, outbox.

Invariants here, not only in code: one claim per source event; one open claim per elevator and
fault category (an alarm storm folds into it); one payout per claim; nobody approves money alone
(second reviewer differs from the first reviewer and from the quote's submitter); the audit
trail cannot be updated or deleted.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from shared.migrations import create_idempotency_keys

revision = "0001"
down_revision = None

TS = sa.DateTime(timezone=True)
STATES = (
    "reported",
    "dispatched",
    "on_site",
    "quoted",
    "under_review",
    "pending_second_review",
    "approved",
    "partly_approved",
    "rejected",
    "repaired",
    "confirmed",
    "paid",
    "closed",
)
OPEN_STATES_SQL = "state not in ('rejected', 'paid', 'closed')"


def upgrade() -> None:
    create_idempotency_keys()
    op.create_table(
        "claims",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("elevator_id", sa.Text, nullable=False),
        sa.Column("registration_code", sa.Text, nullable=False),
        sa.Column("region_code", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("peril", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("policy_id", sa.Text),
        sa.Column("contractor_id", sa.Text),
        sa.Column("report_count", sa.Integer, nullable=False, server_default="1"),
        sa.Column("reported_at", TS, nullable=False),
        sa.Column("reported_by", sa.Text, nullable=False),
        sa.Column("quote_submitter", sa.Text),
        sa.Column("recommendation", pg.JSONB),
        sa.Column("first_decision", pg.JSONB),
        sa.Column("first_reviewer", sa.Text),
        sa.Column("second_decision", pg.JSONB),
        sa.Column("second_reviewer", sa.Text),
        sa.Column("approved_total_fen", sa.BigInteger),
        sa.Column("line_approvals", pg.JSONB),
        sa.Column("pm_confirmed_by", sa.Text),
        sa.Column("owner_confirmed_by", sa.Text),
        sa.Column("escalated_at", TS),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"state in {STATES!r}", name="state_known"),
        sa.CheckConstraint("approved_total_fen >= 0", name="approved_not_negative"),
        sa.CheckConstraint(
            "second_reviewer is null or (second_reviewer <> first_reviewer "
            "and second_reviewer is distinct from quote_submitter)",
            name="nobody_approves_alone",
        ),
    )
    op.create_index(
        "one_open_claim_per_elevator_fault",
        "claims",
        ["elevator_id", "category"],
        unique=True,
        postgresql_where=sa.text(OPEN_STATES_SQL),
    )
    op.create_index("claims_by_state", "claims", ["state", "region_code"])

    op.create_table(
        "claim_reports",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("source_event_id", sa.Text, primary_key=True),
        sa.Column("claim_id", sa.Text, sa.ForeignKey("claims.id"), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("reported_by", sa.Text, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
    )
    op.create_table(
        "transitions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("claim_id", sa.Text, sa.ForeignKey("claims.id"), nullable=False),
        sa.Column("from_state", sa.Text, nullable=False),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("transitions_by_claim", "transitions", ["claim_id", "id"])
    op.create_table(
        "quotes",
        sa.Column("claim_id", sa.Text, sa.ForeignKey("claims.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("lines", pg.JSONB, nullable=False),
        sa.Column("total_fen", sa.BigInteger, nullable=False),
        sa.Column("submitted_by", sa.Text, nullable=False),
        sa.Column("submitted_at", TS, nullable=False),
        sa.CheckConstraint("version >= 1 and total_fen >= 0", name="quote_sane"),
    )
    op.create_table(
        "clocks",
        sa.Column("claim_id", sa.Text, sa.ForeignKey("claims.id"), primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("target_at", TS),
        sa.Column("met_at", TS),
        sa.Column("breached_at", TS),
        sa.CheckConstraint("kind in ('arrival', 'repair', 'payment')", name="clock_kind_known"),
    )
    op.create_index(
        "clocks_running", "clocks", ["due_at"], postgresql_where=sa.text("met_at is null")
    )
    op.create_table(
        "payouts",
        sa.Column("claim_id", sa.Text, sa.ForeignKey("claims.id"), primary_key=True),
        sa.Column("policy_id", sa.Text, nullable=False),
        sa.Column("contractor_id", sa.Text, nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("paid_at", TS, nullable=False),
        sa.Column("paid_by", sa.Text, nullable=False),
        sa.CheckConstraint("amount_fen >= 0", name="payout_not_negative"),
    )
    op.create_table(
        "audit_events",
        sa.Column("claim_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
    )
    # Append-only: history is never rewritten, not even by the service's own account.
    op.execute(
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    # Readers page by (writing transaction, id) and stop below the oldest transaction still
    # running, so an event that commits late is never skipped by a cursor that moved past it.
    op.execute("ALTER TABLE outbox ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id()")
    op.create_index("outbox_by_xid", "outbox", ["xid", "id"])


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_events_no_update ON audit_events")
    op.execute("DROP FUNCTION audit_events_append_only()")
    for table in (
        "outbox",
        "audit_events",
        "payouts",
        "clocks",
        "quotes",
        "transitions",
        "claim_reports",
        "claims",
        "idempotency_keys",
    ):
        op.drop_table(table)

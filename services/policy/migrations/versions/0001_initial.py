"""The policy schema: registry, votes, policies, funding, limits ledger, outbox.

Invariants live here as constraints, not only in code: one open vote per elevator, no two
active policies overlapping for one elevator, reserved + paid never above the sum insured,
no negative balances, one ledger entry per claim.

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


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public")

    create_idempotency_keys()

    op.create_table(
        "communities",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("region_code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("appreciation_balance_fen", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("region_code ~ '^[0-9]{6}$'", name="region_code_format"),
        sa.CheckConstraint("appreciation_balance_fen >= 0", name="appreciation_not_negative"),
        sa.UniqueConstraint("region_code", "name"),
    )

    op.create_table(
        "flats",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("community_id", sa.Text, sa.ForeignKey("communities.id"), nullable=False),
        sa.Column("building", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("floor_area_m2", sa.Numeric(10, 2), nullable=False),
        sa.Column("owner_id", sa.Text, nullable=False),
        sa.Column("owner_name", sa.Text, nullable=False),
        sa.Column("fund_balance_fen", sa.BigInteger),
        sa.CheckConstraint("floor_area_m2 > 0", name="area_positive"),
        sa.CheckConstraint("fund_balance_fen >= 0", name="fund_not_negative"),
        sa.UniqueConstraint("community_id", "building", "unit", "number"),
    )
    op.create_index("flats_by_unit", "flats", ["community_id", "building", "unit"])

    op.create_table(
        "elevators",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("community_id", sa.Text, sa.ForeignKey("communities.id"), nullable=False),
        sa.Column("building", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("registration_code", sa.Text, nullable=False, unique=True),
        sa.Column("equipment_code", sa.Text, nullable=False, unique=True),
        sa.Column("brand", sa.Text, nullable=False),
        sa.Column("landings", sa.Integer, nullable=False),
        sa.Column("rope_count", sa.Integer, nullable=False),
        sa.Column("rope_length_m", sa.Numeric(8, 2), nullable=False),
        sa.Column("motor_kw", sa.Numeric(6, 2), nullable=False),
        sa.Column("installed_on", sa.Date),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("landings between 2 and 200", name="landings_plausible"),
        sa.CheckConstraint("rope_count between 1 and 32", name="rope_count_plausible"),
    )

    # Inspection history: a loss is judged by the inspection in force on its day.
    op.create_table(
        "inspections",
        sa.Column("elevator_id", sa.Text, sa.ForeignKey("elevators.id"), primary_key=True),
        sa.Column("inspected_on", sa.Date, primary_key=True),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("next_due_on", sa.Date, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.CheckConstraint("result in ('passed', 'failed')", name="inspection_result_known"),
        sa.CheckConstraint("next_due_on > inspected_on", name="due_after_inspection"),
    )

    op.create_table(
        "elevator_flats",
        sa.Column("elevator_id", sa.Text, sa.ForeignKey("elevators.id"), primary_key=True),
        sa.Column("flat_id", sa.Text, sa.ForeignKey("flats.id"), primary_key=True),
    )

    op.create_table(
        "votes",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("elevator_id", sa.Text, sa.ForeignKey("elevators.id"), nullable=False),
        sa.Column("rule_set", sa.Text, nullable=False),
        sa.Column("rule_set_version", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("opened_by", sa.Text, nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("closed_by", sa.Text),
        sa.Column("tally", pg.JSONB),
        sa.Column("explanation", pg.JSONB),
        sa.CheckConstraint("status in ('open', 'passed', 'failed')", name="vote_status_known"),
        sa.CheckConstraint("(status = 'open') = (closed_at is null)", name="closed_iff_decided"),
    )
    op.create_index(
        "one_open_vote_per_elevator",
        "votes",
        ["elevator_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table(
        "ballots",
        sa.Column("vote_id", sa.Text, sa.ForeignKey("votes.id"), primary_key=True),
        sa.Column("owner_id", sa.Text, primary_key=True),
        sa.Column("choice", sa.Text, nullable=False),
        sa.Column("cast_at", TS, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.CheckConstraint("choice in ('agree', 'disagree', 'abstain')", name="choice_known"),
    )

    op.create_table(
        "policies",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("elevator_id", sa.Text, sa.ForeignKey("elevators.id"), nullable=False),
        sa.Column("vote_id", sa.Text, sa.ForeignKey("votes.id"), nullable=False),
        sa.Column("product_code", sa.Text, nullable=False),
        sa.Column("product", pg.JSONB, nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("premium_fen", sa.BigInteger, nullable=False),
        sa.Column("from_appreciation_fen", sa.BigInteger, nullable=False),
        sa.Column("sum_insured_fen", sa.BigInteger, nullable=False),
        sa.Column("reserved_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("paid_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cancelled_at", TS),
        sa.Column("cancel_reason", sa.Text),
        sa.Column("refund_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("renewed_from_policy_id", sa.Text, sa.ForeignKey("policies.id"), unique=True),
        sa.Column("issued_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status in ('active', 'cancelled')", name="policy_status_known"),
        sa.CheckConstraint("starts_at < ends_at", name="period_not_empty"),
        sa.CheckConstraint("reserved_fen >= 0 and paid_fen >= 0", name="ledger_not_negative"),
        sa.CheckConstraint(
            "reserved_fen + paid_fen <= sum_insured_fen", name="ledger_within_sum_insured"
        ),
        sa.CheckConstraint("refund_fen between 0 and premium_fen", name="refund_within_premium"),
        sa.CheckConstraint(
            "from_appreciation_fen between 0 and premium_fen", name="appreciation_within_premium"
        ),
    )
    # No two active policies of one elevator may overlap in time.
    op.execute(
        "ALTER TABLE policies ADD CONSTRAINT one_active_policy_at_a_time "
        "EXCLUDE USING gist (elevator_id WITH =, tstzrange(starts_at, ends_at) WITH &&) "
        "WHERE (status = 'active')"
    )

    op.create_table(
        "funding_lines",
        sa.Column("policy_id", sa.Text, sa.ForeignKey("policies.id"), primary_key=True),
        sa.Column("flat_id", sa.Text, sa.ForeignKey("flats.id"), primary_key=True),
        sa.Column("owner_id", sa.Text, nullable=False),
        sa.Column("share_fen", sa.BigInteger, nullable=False),
        sa.Column("from_account_fen", sa.BigInteger, nullable=False),
        sa.Column("billed_cash_fen", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "from_account_fen >= 0 and billed_cash_fen >= 0 "
            "and share_fen = from_account_fen + billed_cash_fen",
            name="line_adds_up",
        ),
    )

    op.create_table(
        "limit_entries",
        sa.Column("claim_id", sa.Text, primary_key=True),
        sa.Column("policy_id", sa.Text, sa.ForeignKey("policies.id"), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("reserved_fen", sa.BigInteger, nullable=False),
        sa.Column("paid_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state in ('reserved', 'released', 'paid')", name="entry_state_known"),
        sa.CheckConstraint("reserved_fen > 0 and paid_fen >= 0", name="entry_amounts"),
        sa.CheckConstraint("paid_fen <= reserved_fen", name="paid_within_reserved"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", TS),
    )
    op.create_index(
        "outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at is null")
    )


def downgrade() -> None:
    for table in (
        "outbox",
        "limit_entries",
        "funding_lines",
        "policies",
        "ballots",
        "votes",
        "elevator_flats",
        "inspections",
        "elevators",
        "flats",
        "communities",
        "idempotency_keys",
    ):
        op.drop_table(table)

"""The contractors schema: the register, job events, monthly scorecards, standings, overrides.

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
PERIOD = "'^[0-9]{4}-(0[1-9]|1[0-2])$'"
STATUS = "('white', 'grey', 'black')"


def upgrade() -> None:
    create_idempotency_keys()
    op.create_table(
        "contractors",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("licence_no", sa.Text, nullable=False, unique=True),
        sa.Column("regions", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("elevators_maintained", sa.Integer, nullable=False),
        sa.Column("licensed_workers", sa.Integer, nullable=False),
        sa.Column("registered_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("cardinality(regions) > 0", name="has_regions"),
        sa.CheckConstraint("elevators_maintained >= 0", name="elevators_not_negative"),
        sa.CheckConstraint("licensed_workers >= 0", name="workers_not_negative"),
    )
    op.create_table(
        "job_events",
        # Event ids are the sender's: scoped by sender so one partner cannot shadow another's.
        sa.Column("recorded_by", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("contractor_id", sa.Text, sa.ForeignKey("contractors.id"), nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("elevator_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("part", sa.Text, nullable=False, server_default=""),
        sa.Column("arrival_minutes", sa.Float),
        sa.Column("repaired_within_24h", sa.Boolean),
        sa.Column("quoted_fen", sa.BigInteger),
        sa.Column("trimmed_fen", sa.BigInteger),
        sa.Column("inspection_first_pass", sa.Boolean),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "kind in ('rescue', 'repair', 'maintenance', 'quote', 'evidence_flag', "
            "'complaint', 'inspection')",
            name="kind_known",
        ),
        sa.CheckConstraint("region ~ '^[0-9]{6}$'", name="region_format"),
        sa.CheckConstraint(
            "(kind = 'rescue') = (arrival_minutes is not null)", name="rescue_has_arrival"
        ),
        sa.CheckConstraint("arrival_minutes >= 0", name="arrival_not_negative"),
        sa.CheckConstraint(
            "(kind = 'repair') = (repaired_within_24h is not null)", name="repair_has_outcome"
        ),
        sa.CheckConstraint(
            "(kind = 'quote') = (quoted_fen is not null and trimmed_fen is not null)",
            name="quote_has_amounts",
        ),
        sa.CheckConstraint("trimmed_fen between 0 and quoted_fen", name="trim_within_quote"),
        sa.CheckConstraint(
            "(kind = 'inspection') = (inspection_first_pass is not null)",
            name="inspection_has_result",
        ),
    )
    op.create_index("job_events_by_day", "job_events", ["occurred_on"])
    op.create_table(
        "scorecards",
        sa.Column("contractor_id", sa.Text, sa.ForeignKey("contractors.id"), primary_key=True),
        sa.Column("region", sa.Text, primary_key=True),
        sa.Column("period", sa.Text, primary_key=True),
        sa.Column("weights_version", sa.Text, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("composite", sa.Float, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("peers", sa.Integer, nullable=False),
        sa.Column("percentile", sa.Float, nullable=False),
        # The metric scores as the proto shows them (list of objects), for reading back.
        sa.Column("metrics", pg.JSONB, nullable=False),
        sa.Column("computed_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"period ~ {PERIOD}", name="period_format"),
        sa.CheckConstraint("composite between 0 and 100", name="composite_range"),
        sa.CheckConstraint("rank between 1 and peers", name="rank_within_peers"),
    )
    op.create_index("scorecards_by_ranking", "scorecards", ["region", "period", "rank"])
    op.create_table(
        "standings",
        sa.Column("contractor_id", sa.Text, sa.ForeignKey("contractors.id"), primary_key=True),
        sa.Column("period", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason_code", sa.Text, nullable=False),
        sa.Column("explanation_en", sa.Text, nullable=False),
        sa.Column("explanation_zh", sa.Text, nullable=False),
        sa.Column("since", sa.Text, nullable=False),
        sa.Column("rules_version", sa.Text, nullable=False),
        sa.Column("decided_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"status in {STATUS}", name="status_known"),
        sa.CheckConstraint(f"period ~ {PERIOD} and since ~ {PERIOD}", name="period_format"),
        sa.CheckConstraint("since <= period", name="since_not_after_period"),
    )
    op.create_table(
        "overrides",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("contractor_id", sa.Text, sa.ForeignKey("contractors.id"), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("approved_by", sa.Text),
        sa.Column("effective_from", sa.Text, nullable=False),
        sa.Column("until", sa.Text),
        sa.Column("requested_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("approved_at", TS),
        sa.CheckConstraint(f"status in {STATUS}", name="status_known"),
        # 双重复核: nobody approves their own override, whatever the code above does.
        sa.CheckConstraint(
            "approved_by is null or lower(approved_by) <> lower(requested_by)",
            name="nobody_approves_alone",
        ),
        sa.CheckConstraint("(approved_by is null) = (approved_at is null)", name="approval_whole"),
        sa.CheckConstraint("until is null or until >= effective_from", name="until_after_from"),
    )


def downgrade() -> None:
    for table in ("overrides", "standings", "scorecards", "job_events", "contractors"):
        op.drop_table(table)
    op.drop_table("idempotency_keys")

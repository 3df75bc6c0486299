"""The work queue and the dashboard: what they need on the claim row, and their indexes.

The queue used to sort every claim by a correlated subquery over its clocks; at 100,000 claims
that is a scan and a sort per page. Now the claim row carries what the queue ranks and filters
by, kept by the store in the transaction that changes the clocks, the quote or the
recommendation:

- ``next_due_at`` / ``next_due_clock``: the earliest deadline of a running clock, and its kind;
- ``breached_clocks``: the kinds of the clocks that ran out;
- ``flags``: the latest recommendation's reason codes (claim and lines), without the routing
  and ordinary ones (``services.claims.domain.queue.flags_of``; the backfill below spells the
  same rule);
- ``quoted_total_fen``: the latest quote's total; ``paid_fen``: what was paid (the payout);
- ``community_id``: the elevator's community as the policy service knows it, recorded at
  intake from now on. Claims reported before this migration keep NULL: the claims schema
  never had it and a migration does not call another service.

Four generated columns make the queue's filter and sort key (``active``; ``queue_due``,
``queue_unflagged``, ``queue_neg_amount``, then ``id``), all ascending so that one row
comparison continues a page inside an index (keyset paging).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"

TS = sa.DateTime(timezone=True)
# The same set as ``domain.states.ACTIVE`` and 0001's one_open_claim_per_elevator_fault.
ACTIVE_SQL = "state not in ('rejected', 'paid', 'closed')"
QUEUE_KEY = ["queue_due", "queue_unflagged", "queue_neg_amount", "id"]


def upgrade() -> None:
    op.add_column("claims", sa.Column("community_id", sa.Text))
    op.add_column("claims", sa.Column("next_due_at", TS))
    op.add_column("claims", sa.Column("next_due_clock", sa.Text))
    op.add_column(
        "claims",
        sa.Column(
            "breached_clocks", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")
        ),
    )
    op.add_column(
        "claims",
        sa.Column("flags", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column("claims", sa.Column("quoted_total_fen", sa.BigInteger))
    op.create_check_constraint("quoted_not_negative", "claims", "quoted_total_fen >= 0")
    op.add_column("claims", sa.Column("paid_fen", sa.BigInteger))

    op.execute(
        """
        UPDATE claims c SET next_due_at = n.due_at, next_due_clock = n.kind
        FROM (SELECT DISTINCT ON (claim_id) claim_id, kind, due_at FROM clocks
              WHERE met_at IS NULL ORDER BY claim_id, due_at, kind) n
        WHERE n.claim_id = c.id
        """
    )
    op.execute(
        """
        UPDATE claims c SET breached_clocks = b.kinds
        FROM (SELECT claim_id, array_agg(kind ORDER BY kind) AS kinds FROM clocks
              WHERE breached_at IS NOT NULL GROUP BY claim_id) b
        WHERE b.claim_id = c.id
        """
    )
    op.execute(
        """
        UPDATE claims c SET quoted_total_fen = q.total_fen
        FROM (SELECT DISTINCT ON (claim_id) claim_id, total_fen FROM quotes
              ORDER BY claim_id, version DESC) q
        WHERE q.claim_id = c.id
        """
    )
    op.execute("UPDATE claims c SET paid_fen = p.amount_fen FROM payouts p WHERE p.claim_id = c.id")
    op.execute(
        """
        UPDATE claims SET flags = ARRAY(
            SELECT DISTINCT code FROM (
                SELECT jsonb_array_elements_text(recommendation -> 'reason_codes') AS code
                UNION ALL
                SELECT jsonb_array_elements_text(line -> 'reason_codes')
                FROM jsonb_array_elements(recommendation -> 'lines') AS line
            ) codes
            WHERE code NOT IN (
                'STRAIGHT_THROUGH', 'ABOVE_STRAIGHT_THROUGH_LIMIT', 'DEDUCTIBLE_APPLIED',
                'CONTRACTOR_GREYLISTED'
            )
            ORDER BY code
        )
        WHERE recommendation IS NOT NULL
        """
    )

    # Generated (STORED: PostgreSQL 18 makes virtual ones by default, which cannot be indexed).
    for name, kind, expression in (
        ("active", "boolean", ACTIVE_SQL),
        ("queue_due", "timestamptz", "coalesce(next_due_at, 'infinity'::timestamptz)"),
        ("queue_unflagged", "boolean", "cardinality(flags) = 0"),
        ("queue_neg_amount", "bigint", "-coalesce(approved_total_fen, quoted_total_fen, 0)"),
    ):
        op.execute(
            f"ALTER TABLE claims ADD COLUMN {name} {kind} GENERATED ALWAYS AS ({expression}) STORED"
        )

    # The default queue (active claims), a contractor's own queue, and every claim.
    op.create_index("claims_queue_active", "claims", QUEUE_KEY, postgresql_where=sa.text("active"))
    op.create_index(
        "claims_queue_contractor",
        "claims",
        ["contractor_id", *QUEUE_KEY],
        postgresql_where=sa.text("active"),
    )
    op.create_index("claims_queue_all", "claims", QUEUE_KEY)
    # A rare flag is found through its posting list rather than by walking the queue.
    op.create_index("claims_flags", "claims", ["flags"], postgresql_using="gin")
    # Counting and summing read these covering indexes alone (index-only scans): the claim
    # rows are wide (the recommendation's JSON sits inline, under the 2 kB that would move
    # it out), and a scan of 100,000 of them reads ~180 MB where the index reads ~10 MB.
    # The totals of a queue listing, every filter of it (active ones first: the default):
    op.create_index(
        "claims_counts",
        "claims",
        ["active", "region_code"],
        postgresql_include=["state", "contractor_id", "breached_clocks", "flags"],
    )
    # The dashboard's window and everything it counts on the claim row:
    op.create_index(
        "claims_by_reported_at",
        "claims",
        ["reported_at"],
        postgresql_include=[
            "region_code",
            "state",
            "active",
            "community_id",
            "elevator_id",
            "quoted_total_fen",
            "approved_total_fen",
            "paid_fen",
            "id",
        ],
    )


def downgrade() -> None:
    for index in (
        "claims_by_reported_at",
        "claims_counts",
        "claims_flags",
        "claims_queue_all",
        "claims_queue_contractor",
        "claims_queue_active",
    ):
        op.drop_index(index, table_name="claims")
    op.drop_constraint("quoted_not_negative", "claims")
    for column in (
        "queue_neg_amount",
        "queue_unflagged",
        "queue_due",
        "active",
        "paid_fen",
        "quoted_total_fen",
        "flags",
        "breached_clocks",
        "next_due_clock",
        "next_due_at",
        "community_id",
    ):
        op.drop_column("claims", column)

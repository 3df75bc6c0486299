"""Uploads verified in the background: a received state, a lease for the worker, the reason.

States: pending → received (the bytes are in S3, CompleteUploads saw them) → verified
(evidence registered) or rejected (``reason`` a stable code, ``message`` for people). The
synchronous CompleteUpload still goes from pending straight to verified or rejected.
``completed`` is renamed ``verified``: the word callers see (docs/adr/0010).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_constraint("state_known", "uploads", type_="check")
    op.drop_constraint("completed", "uploads", type_="check")
    op.execute("UPDATE uploads SET state = 'verified' WHERE state = 'completed'")
    op.add_column("uploads", sa.Column("received_at", TS))
    # The worker holding a received upload until then; after it, another may take it.
    op.add_column("uploads", sa.Column("lease_until", TS))
    op.add_column("uploads", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("uploads", sa.Column("message", sa.Text))
    op.create_check_constraint(
        "state_known", "uploads", "state in ('pending', 'received', 'verified', 'rejected')"
    )
    op.create_check_constraint(
        "verified", "uploads", "(state = 'verified') = (evidence_id is not null)"
    )
    op.create_check_constraint(
        "received_when", "uploads", "state <> 'received' or received_at is not null"
    )
    # The worker's queue: received uploads, oldest first.
    op.create_index(
        "uploads_received",
        "uploads",
        ["received_at", "id"],
        postgresql_where=sa.text("state = 'received'"),
    )
    op.create_index("uploads_by_claim", "uploads", ["claim_id"])


def downgrade() -> None:
    op.drop_index("uploads_by_claim", table_name="uploads")
    op.drop_index("uploads_received", table_name="uploads")
    for name in ("received_when", "verified", "state_known"):
        op.drop_constraint(name, "uploads", type_="check")
    # A received upload has no place in the old states: it was never completed.
    op.execute("UPDATE uploads SET state = 'pending' WHERE state = 'received'")
    op.execute("UPDATE uploads SET state = 'completed' WHERE state = 'verified'")
    for column in ("message", "attempts", "lease_until", "received_at"):
        op.drop_column("uploads", column)
    op.create_check_constraint(
        "state_known", "uploads", "state in ('pending', 'completed', 'rejected')"
    )
    op.create_check_constraint(
        "completed", "uploads", "(state = 'completed') = (evidence_id is not null)"
    )

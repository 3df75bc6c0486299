"""The evidence schema: claim folders, uploads, evidence, reuse matches and the audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_idempotency_keys

revision = "0001"
down_revision = None

TS = sa.DateTime(timezone=True)
KINDS = (
    "('before_photo', 'after_photo', 'replaced_part_photo', 'inspection_report', 'invoice', "
    "'video')"
)


def upgrade() -> None:
    create_idempotency_keys()
    op.create_table(
        "claim_folders",
        sa.Column("claim_id", sa.Text, primary_key=True),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("contractor_id", sa.Text, nullable=False),
        sa.Column("fault_at", TS, nullable=False),
        sa.Column("repaired_at", TS),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("region ~ '^[0-9]{6}$'", name="region_format"),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("claim_id", sa.Text, sa.ForeignKey("claim_folders.claim_id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        # pending → completed (evidence_id set) or rejected (reason set); never back.
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("evidence_id", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"kind in {KINDS}", name="kind_known"),
        sa.CheckConstraint("state in ('pending', 'completed', 'rejected')", name="state_known"),
        sa.CheckConstraint("(state = 'completed') = (evidence_id is not null)", name="completed"),
        sa.CheckConstraint("size_bytes > 0", name="size_positive"),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("claim_id", sa.Text, sa.ForeignKey("claim_folders.claim_id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("uploaded_by", sa.Text, nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("taken_at", TS),
        # EXIF without an offset: the phone's local time, kept as it was written.
        sa.Column("taken_at_local", sa.DateTime(timezone=False)),
        sa.Column("device", sa.Text),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("photo_hash", sa.LargeBinary),
        sa.Column("index_hashes", sa.LargeBinary),
        sa.Column("retained_until", TS),
        sa.CheckConstraint(f"kind in {KINDS}", name="kind_known"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_format"),
        sa.CheckConstraint("photo_hash is null or length(photo_hash) = 32", name="hash_size"),
        # The same bytes are one piece of evidence per claim (a re-upload is a no-op).
        sa.UniqueConstraint("claim_id", "sha256", name="once_per_claim"),
    )
    op.create_index("evidence_by_sha256", "evidence", ["sha256"])
    op.create_table(
        "reuse_matches",
        sa.Column("evidence_id", sa.Text, sa.ForeignKey("evidence.id"), primary_key=True),
        sa.Column("other_evidence_id", sa.Text, sa.ForeignKey("evidence.id"), primary_key=True),
        sa.Column("distance", sa.Integer, nullable=False),
        sa.CheckConstraint("evidence_id <> other_evidence_id", name="not_itself"),
    )
    op.create_index("reuse_matches_by_other", "reuse_matches", ["other_evidence_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("claim_id", sa.Text),
        sa.Column("evidence_id", sa.Text),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    for table in ("audit_log", "reuse_matches", "evidence", "uploads", "claim_folders"):
        op.drop_table(table)
    op.drop_table("idempotency_keys")

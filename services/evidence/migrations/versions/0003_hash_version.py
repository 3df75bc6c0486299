"""Stored photo hashes carry the version of the hash that made them.

Version 2 centres and balances the coefficients before hashing (docs/adr/0011), so version 1
hashes are not comparable with it: the verifier re-hashes those photos from their stored bytes
when idle, and until then they are left out of the forensic index.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("evidence", sa.Column("hash_version", sa.SmallInteger))
    op.execute("UPDATE evidence SET hash_version = 1 WHERE index_hashes IS NOT NULL")
    op.create_check_constraint(
        "hashes_have_a_version", "evidence", "index_hashes is null or hash_version is not null"
    )
    # The re-hashing's queue: a range scan finds the photos of older versions, and only them.
    op.create_index("evidence_hash_version", "evidence", ["hash_version"])


def downgrade() -> None:
    op.drop_index("evidence_hash_version", "evidence")
    op.drop_constraint("hashes_have_a_version", "evidence", type_="check")
    op.drop_column("evidence", "hash_version")

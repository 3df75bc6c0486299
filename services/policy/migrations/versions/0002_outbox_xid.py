"""The outbox records its writing transaction, so that ListEvents pages in commit order.

The exchange service pulls policy events (premium deductions for the housing bureau) the way
it pulls claims events: see shared/outbox.py and docs/adr/0007. Rows written before this
revision get the migrating transaction's id, which is newer than theirs: harmless, they are
still read once, in id order among themselves.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("ALTER TABLE outbox ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id()")
    op.create_index("outbox_by_xid", "outbox", ["xid", "id"])
    # The polling index of a pusher that never came: the exchange pulls instead.
    op.drop_index("outbox_unpublished", table_name="outbox")


def downgrade() -> None:
    op.create_index(
        "outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at is null")
    )
    op.drop_index("outbox_by_xid", table_name="outbox")
    op.drop_column("outbox", "xid")

"""The pricing schema: price observations and the imports that brought them.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("caller", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("brand", sa.Text),
        # Canonical spec key ("φ10", "7.5kw") from the matcher, for spec-level references.
        sa.Column("spec", sa.Text),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("observed_on", sa.Date, nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("imported_by", sa.Text, nullable=False),
        sa.Column("import_request_id", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("unit_price_fen > 0", name="price_positive"),
        sa.CheckConstraint("region ~ '^[0-9]{6}$'", name="region_format"),
        sa.CheckConstraint("source in ('supplier_list', 'settled_claim')", name="source_known"),
    )
    op.create_index(
        "observations_by_category", "observations", ["category", "region", "observed_on"]
    )


def downgrade() -> None:
    op.drop_table("observations")
    op.drop_table("imports")

"""The web schema: people who sign in to the UI, and their sessions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None

TS = sa.DateTime(timezone=True)
ROLES = "('adjuster', 'senior_reviewer', 'supervisor', 'contractor', 'auditor')"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.Text, primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        # argon2id, with its parameters inside the string: stronger settings later rehash.
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("regions", pg.ARRAY(sa.Text), nullable=False),
        # The company a contractor's user works for: the services see the company.
        sa.Column("contractor_id", sa.Text),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", TS),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"role IN {ROLES}", name="known_role"),
        sa.CheckConstraint("cardinality(regions) > 0", name="has_regions"),
        sa.CheckConstraint(
            "(role = 'contractor') = (contractor_id IS NOT NULL)", name="contractor_has_company"
        ),
        sa.CheckConstraint("failures >= 0", name="failures_not_negative"),
        sa.CheckConstraint("username ~ '^[a-z0-9][a-z0-9._-]{1,62}$'", name="username_format"),
    )
    op.create_table(
        "sessions",
        # SHA-256 of the cookie value: a copy of this table signs nobody in.
        sa.Column("token_hash", pg.BYTEA, primary_key=True),
        sa.Column(
            "username",
            sa.Text,
            sa.ForeignKey("users.username", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    )
    op.create_index("sessions_by_user", "sessions", ["username"])
    op.create_index("sessions_by_expiry", "sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_table("users")

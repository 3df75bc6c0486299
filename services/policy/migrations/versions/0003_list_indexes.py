"""Indexes for the community pages: a community's elevators, an elevator's votes and policies.

The web UI lists them per community (ListElevators, ListVotes, ListPolicies), newest first;
without these each page would scan the whole table.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_index("elevators_by_community", "elevators", ["community_id"])
    op.create_index("votes_by_elevator", "votes", ["elevator_id", "opened_at", "id"])
    op.create_index("policies_by_elevator", "policies", ["elevator_id", "starts_at", "id"])


def downgrade() -> None:
    op.drop_index("policies_by_elevator", table_name="policies")
    op.drop_index("votes_by_elevator", table_name="votes")
    op.drop_index("elevators_by_community", table_name="elevators")

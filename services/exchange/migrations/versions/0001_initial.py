"""The exchange schema: partners, imported records (one table per kind), imports and their
rejections, alarms, push receipts, the relay's cursors and the outbound deliveries.

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
EQUIPMENT_CODE = "equipment_code ~ '^3[0-9]{19}$'"


def _records(name: str, *columns: sa.Column, checks: tuple[str, ...] = ()) -> None:
    """A kind's table: the partner's key and version, the region, then the kind's fields."""
    op.create_table(
        name,
        # Record ids are the partner's: scoped by partner so one cannot shadow another's.
        sa.Column("partner_id", sa.Text, primary_key=True),
        sa.Column("record_id", sa.Text, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("region_code", sa.Text, nullable=False),
        *columns,
        # Warning rules the row failed (comma-separated codes): a person looks at these.
        sa.Column("flags", sa.Text),
        sa.Column("import_id", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint("region_code ~ '^[1-8][0-9]{5}$'", name="region_format"),
        *(sa.CheckConstraint(c, name=f"rule_{i}") for i, c in enumerate(checks)),
    )
    op.create_index(f"{name}_by_region", name, ["region_code"])


def upgrade() -> None:
    create_idempotency_keys()
    op.create_table(
        "partners",
        sa.Column("partner_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("regions", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("feeds", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("inbox_addr", sa.Text, nullable=False, server_default=""),
        sa.Column("topics", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("outbound_version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("registered_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "kind in ('housing_bureau', 'market_supervision', 'property_manager', 'iot_platform')",
            name="kind_known",
        ),
        sa.CheckConstraint("cardinality(regions) > 0", name="has_regions"),
        sa.CheckConstraint("outbound_version >= 1", name="outbound_version_positive"),
    )

    _records(
        "registry_records",
        sa.Column("equipment_code", sa.Text, nullable=False),
        sa.Column("registration_no", sa.Text, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("manufacture_date", sa.Date),
        sa.Column("install_date", sa.Date),
        sa.Column("registration_date", sa.Date),
        sa.Column("last_inspection_date", sa.Date),
        sa.Column("next_inspection_due", sa.Date),
        sa.Column("landings", sa.BigInteger),
        sa.Column("rope_count", sa.BigInteger),
        sa.Column("rated_speed_mps", sa.Float),
        # The error rules of the registry rule set that a database can say in a line.
        checks=(
            EQUIPMENT_CODE,
            "landings between 2 and 120",
            "rope_count between 2 and 12",
            "manufacture_date <= install_date",
            "install_date <= registration_date",
        ),
    )
    op.create_index("registry_by_equipment_code", "registry_records", ["equipment_code"])
    _records(
        "inspection_records",
        sa.Column("equipment_code", sa.Text, nullable=False),
        sa.Column("inspected_on", sa.Date, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("next_due", sa.Date),
        sa.Column("report_no", sa.Text),
        checks=(
            EQUIPMENT_CODE,
            "result in ('passed', 'failed', 'conditional')",
            "next_due > inspected_on",
        ),
    )
    _records(
        "fund_account_records",
        sa.Column("community_code", sa.Text, nullable=False),
        sa.Column("account_no", sa.Text, nullable=False),
        sa.Column("account_type", sa.Text, nullable=False),
        sa.Column("flat_no", sa.Text),
        sa.Column("balance_fen", sa.BigInteger, nullable=False),
        sa.Column("appreciation_income_fen", sa.BigInteger),
        sa.Column("as_of", sa.Date, nullable=False),
        checks=(
            "account_type in ('community_appreciation', 'personal')",
            "balance_fen >= 0",
            "appreciation_income_fen >= 0",
        ),
    )
    _records(
        "roster_records",
        sa.Column("community_code", sa.Text, nullable=False),
        sa.Column("flat_no", sa.Text, nullable=False),
        sa.Column("floor_area_m2", sa.Float, nullable=False),
        sa.Column("owner_name", sa.Text),
        sa.Column("owner_phone", sa.Text),
        sa.Column("owner_id_no", sa.Text),
        checks=("floor_area_m2 between 5 and 1000",),
    )
    _records(
        "maintenance_records",
        sa.Column("equipment_code", sa.Text, nullable=False),
        sa.Column("record_date", sa.Date, nullable=False),
        sa.Column("previous_record_date", sa.Date),
        sa.Column("maintenance_type", sa.Text, nullable=False),
        sa.Column("worker_cert_no", sa.Text),
        sa.Column("worker_licensed", sa.Boolean),
        sa.Column("signed", sa.Boolean),
        sa.Column("duration_minutes", sa.BigInteger),
        checks=(
            "maintenance_type in ('half_monthly', 'quarterly', 'half_yearly', 'yearly')",
            "previous_record_date <= record_date",
        ),
    )

    op.create_table(
        "imports",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("partner_id", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False, server_default=""),
        # The caller's regions when it started: who else may read the report.
        sa.Column("regions", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("applied", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unchanged", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("stale", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rejected", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("warnings", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rule_set_version", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.UniqueConstraint("partner_id", "request_id", name="one_import_per_request"),
        sa.CheckConstraint("state in ('running', 'done', 'failed')", name="state_known"),
        sa.CheckConstraint("(state = 'running') = (finished_at is null)", name="finished_iff_over"),
        sa.CheckConstraint(
            "applied + unchanged + stale + rejected = rows and warnings <= rows",
            name="counts_add_up",
        ),
    )
    op.create_table(
        "rejections",
        sa.Column("import_id", sa.Text, sa.ForeignKey("imports.id"), primary_key=True),
        sa.Column("row", sa.BigInteger, primary_key=True),
        sa.Column("field", sa.Text, primary_key=True),
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )

    op.create_table(
        "alarms",
        sa.Column("partner_id", sa.Text, primary_key=True),
        sa.Column("alarm_id", sa.Text, primary_key=True),
        sa.Column("registration_code", sa.Text, nullable=False),
        sa.Column("fault_category", sa.Text, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        # The partner's regions when the alarm came: claims is asked with exactly these.
        sa.Column("regions", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("claim_id", sa.Text),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state in ('queued', 'forwarded', 'rejected')", name="state_known"),
        sa.CheckConstraint("(state = 'forwarded') = (claim_id is not null)", name="claim_iff_fwd"),
    )
    op.create_index(
        "alarms_queued", "alarms", ["next_attempt_at"], postgresql_where=sa.text("state = 'queued'")
    )
    op.create_table(
        # A signed push accepted once: the same signature again is a replay.
        "push_receipts",
        sa.Column("partner_id", sa.Text, primary_key=True),
        sa.Column("digest", sa.Text, primary_key=True),
        sa.Column("signed_at", TS, nullable=False),
    )
    op.create_index("push_receipts_by_time", "push_receipts", ["signed_at"])

    op.create_table(
        "relay_cursors",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        # Decided and paid events do not name the region: remembered from claim.opened.
        "claim_regions",
        sa.Column("claim_id", sa.Text, primary_key=True),
        sa.Column("region_code", sa.Text, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("partner_id", sa.Text, sa.ForeignKey("partners.partner_id"), nullable=False),
        sa.Column("dedup_id", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("region_code", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", TS),
        # Exactly one delivery per event and partner, however often the relay reads the event.
        sa.UniqueConstraint("partner_id", "dedup_id", name="one_delivery_per_event"),
        sa.CheckConstraint("state in ('pending', 'delivered', 'dead')", name="state_known"),
        sa.CheckConstraint(
            "(state = 'delivered') = (delivered_at is not null)", name="delivered_iff_at"
        ),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )
    op.create_index(
        "deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index("deliveries_by_state", "deliveries", ["state", "id"])


def downgrade() -> None:
    for table in (
        "deliveries",
        "claim_regions",
        "relay_cursors",
        "push_receipts",
        "alarms",
        "rejections",
        "imports",
        "maintenance_records",
        "roster_records",
        "fund_account_records",
        "inspection_records",
        "registry_records",
        "partners",
        "idempotency_keys",
    ):
        op.drop_table(table)

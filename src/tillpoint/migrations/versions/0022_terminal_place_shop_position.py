"""where a terminal last said it was (field 59) and where its connection came from; a
shop's registered position and city

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0022"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("place_device_type", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("place_serial_no", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("place_latitude_e6", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("place_longitude_e6", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("place_cell", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("place_ip", sa.String(length=45), nullable=True))
        batch_op.add_column(
            sa.Column(
                "place_reported_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("source_address", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("source_seen_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_check_constraint(
            op.f("ck_terminals_place_lat_lon"),
            "(place_latitude_e6 IS NULL) = (place_longitude_e6 IS NULL)",
        )
        batch_op.create_check_constraint(
            op.f("ck_terminals_place_latitude_range"),
            "place_latitude_e6 BETWEEN -90000000 AND 90000000",
        )
        batch_op.create_check_constraint(
            op.f("ck_terminals_place_longitude_range"),
            "place_longitude_e6 BETWEEN -180000000 AND 180000000",
        )
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latitude_e6", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("longitude_e6", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("city", sa.String(length=50), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_shops_lat_lon"), "(latitude_e6 IS NULL) = (longitude_e6 IS NULL)"
        )
        batch_op.create_check_constraint(
            op.f("ck_shops_latitude_range"), "latitude_e6 BETWEEN -90000000 AND 90000000"
        )
        batch_op.create_check_constraint(
            op.f("ck_shops_longitude_range"), "longitude_e6 BETWEEN -180000000 AND 180000000"
        )


def downgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_shops_longitude_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_shops_latitude_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_shops_lat_lon"), type_="check")
        batch_op.drop_column("city")
        batch_op.drop_column("longitude_e6")
        batch_op.drop_column("latitude_e6")
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_terminals_place_longitude_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_terminals_place_latitude_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_terminals_place_lat_lon"), type_="check")
        for column in (
            "source_seen_at",
            "source_address",
            "place_reported_at",
            "place_ip",
            "place_cell",
            "place_longitude_e6",
            "place_latitude_e6",
            "place_serial_no",
            "place_device_type",
        ):
            batch_op.drop_column(column)

"""Columns and types of the TLC trip files, and their names in the sinks.

Types follow the course (``pd.Int64`` for the id/count columns, floats for amounts, the two
``*_datetime`` columns parsed as timestamps). In every sink the names are lower snake_case:

| file column    | sink column      |
|----------------|------------------|
| VendorID       | vendor_id        |
| RatecodeID     | ratecode_id      |
| PULocationID   | pu_location_id   |
| DOLocationID   | do_location_id   |
| (all others)   | unchanged, already snake_case |

Two columns are added: ``<prefix>_pickup_date`` (the pickup's calendar date, the GCS partition
key) and ``source_month`` (the slice, e.g. ``2021-01``: which file the row came from).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

INT_COLUMNS = (
    "VendorID",
    "passenger_count",
    "RatecodeID",
    "PULocationID",
    "DOLocationID",
    "payment_type",
    "trip_type",
)
STRING_COLUMNS = ("store_and_fwd_flag",)

YELLOW_COLUMNS = (
    "VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", "passenger_count",
    "trip_distance", "RatecodeID", "store_and_fwd_flag", "PULocationID", "DOLocationID",
    "payment_type", "fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount",
    "improvement_surcharge", "total_amount", "congestion_surcharge",
)  # fmt: skip
GREEN_COLUMNS = (
    "VendorID", "lpep_pickup_datetime", "lpep_dropoff_datetime", "store_and_fwd_flag",
    "RatecodeID", "PULocationID", "DOLocationID", "passenger_count", "trip_distance",
    "fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "ehail_fee",
    "improvement_surcharge", "total_amount", "payment_type", "trip_type", "congestion_surcharge",
)  # fmt: skip

#: Columns TLC added to its files later: column → the first month whose file has it. A file of
#: an earlier month (TLC's own pre-2019 files) loads with that column NULL in every sink; a
#: later file without it is refused. congestion_surcharge: New York's congestion surcharge
#: began in February 2019, and TLC's files carry the column from 2019-01 on.
LATER_COLUMNS = {"congestion_surcharge": "2019-01"}
#: Header names of TLC's layout before 2016-07 (coordinates instead of taxi zone ids).
COORDINATE_COLUMNS = frozenset(
    {"pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude",
     "start_lon", "start_lat", "end_lon", "end_lat"}
)  # fmt: skip

# TLC vendor codes (data dictionary): 1 Creative Mobile Technologies, 2 Curb (VeriFone),
# 6 Myle Technologies, 7 Helix.
TLC_VENDOR_IDS = frozenset({1, 2, 6, 7})


def to_snake_case(name: str) -> str:
    """``PULocationID`` → ``pu_location_id``; names already in snake_case are unchanged."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name)
    return name.lower()


def arrow_type(column: str) -> pa.DataType:
    """The course type of a file column."""
    if column in INT_COLUMNS:
        return pa.int64()
    if column in STRING_COLUMNS:
        return pa.string()
    if column.endswith("_datetime"):
        return pa.timestamp("us")
    return pa.float64()


@dataclass(frozen=True)
class TripSchema:
    """The file columns of one colour and what the pipelines derive from them."""

    color: str
    columns: tuple[str, ...]

    @property
    def prefix(self) -> str:
        return "tpep" if self.color == "yellow" else "lpep"

    @property
    def pickup_column(self) -> str:
        return f"{self.prefix}_pickup_datetime"

    @property
    def pickup_date_column(self) -> str:
        return f"{self.prefix}_pickup_date"

    @property
    def renames(self) -> dict[str, str]:
        """Only the columns whose name changes (4 for both colours)."""
        return {c: to_snake_case(c) for c in self.columns if to_snake_case(c) != c}

    def read_type(self, column: str) -> pa.DataType:
        """What the CSV reader parses a column as: ints as text, converted exactly later (so
        ``1.0`` is accepted as pandas does, and no value is ever rounded through a float)."""
        kind = arrow_type(column)
        return pa.string() if pa.types.is_integer(kind) else kind

    @property
    def sink_schema(self) -> pa.Schema:
        """The typed rows as written to staging, Postgres, GCS and BigQuery."""
        fields = [pa.field(to_snake_case(c), arrow_type(c)) for c in self.columns]
        fields.append(pa.field(self.pickup_date_column, pa.date32()))
        fields.append(pa.field("source_month", pa.string()))
        return pa.schema(fields)


SCHEMAS = {
    "yellow": TripSchema("yellow", YELLOW_COLUMNS),
    "green": TripSchema("green", GREEN_COLUMNS),
}


def schema_for(color: str) -> TripSchema:
    return SCHEMAS[color]


# --- The BigQuery table (one definition: the stack, the twin and the pipelines read it) --------

#: Arrow type -> BigQuery standard SQL type of every sink column.
BIGQUERY_TYPES = {
    pa.int64(): "INT64",
    pa.float64(): "FLOAT64",
    pa.string(): "STRING",
    pa.timestamp("us"): "TIMESTAMP",
    pa.date32(): "DATE",
}
#: The first day of the source month (``2021-01`` -> 2021-01-01): the partition column. The
#: pickup date cannot be it: TLC files hold pickups outside their month, and those rows stay in
#: their file's slice, so the partition must follow the file, not the pickup.
SOURCE_MONTH_START = "source_month_start"


@dataclass(frozen=True)
class WarehouseTable:
    """A BigQuery table of trips: the sink columns plus :data:`SOURCE_MONTH_START`, partitioned
    by MONTH on it (one partition = one source file, ``table$YYYYMM``) and clustered on what
    users filter by (pickup date, then pickup zone, then vendor)."""

    trips: TripSchema
    table_id: str
    partition_type: str = "MONTH"
    partition_field: str = SOURCE_MONTH_START

    @property
    def arrow_schema(self) -> pa.Schema:
        """The rows as loaded: :attr:`TripSchema.sink_schema` and the partition column last."""
        return self.trips.sink_schema.append(pa.field(self.partition_field, pa.date32()))

    @property
    def columns(self) -> list[tuple[str, str]]:
        """``(name, BigQuery type)`` in table order."""
        return [(f.name, BIGQUERY_TYPES[f.type]) for f in self.arrow_schema]

    @property
    def clustering(self) -> tuple[str, ...]:
        return (self.trips.pickup_date_column, "pu_location_id", "vendor_id")

    def schema_json(self) -> list[dict[str, str]]:
        """The BigQuery REST/terraform schema: ``[{"name", "type", "mode"}]``."""
        return [{"name": n, "type": t, "mode": "NULLABLE"} for n, t in self.columns]

    @staticmethod
    def partition_id(year: int, month: int) -> str:
        """The MONTH partition decorator id, e.g. ``202101`` (``table$202101``)."""
        return f"{year:04d}{month:02d}"


YELLOW_WAREHOUSE = WarehouseTable(SCHEMAS["yellow"], "yellow_cab_data")

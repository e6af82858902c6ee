"""The month's warehouse-ready objects: its rows with exactly the BigQuery table's columns,
written to GCS when the month lands there, so the load job reads them server-side.

A BigQuery load job reads ``gs://`` URIs itself; the client sends only the job. For that the
objects must carry the table's columns as the table types them, which the lake's objects do
not: the partition column ``source_month_start`` (the file's month) is in no lake object, the
pickup date of the partitioned dataset lives in its Hive path, and the lake's timestamps are
not UTC-adjusted (BigQuery reads those as DATETIME, not TIMESTAMP). Writing them into the lake
would change its layout for every other reader, so the month gets its own copy:

    gs://<bucket>/_bigquery/<lake prefix>/<YYYY-MM>/part-00000.parquet

written and checked before the lake's commit, then committed (staged, verified, copied into
place; nothing stale left) under the same slice lock right after the month's partitioned
objects, and loaded with the wildcard URI ``gs://<bucket>/_bigquery/<lake prefix>/<YYYY-MM>/*.parquet``
(one wildcard, inside the object name, every matched file of one schema, as BigQuery
requires). The ``_`` folder is outside every lake dataset, like ``_staging``.

Docs: https://cloud.google.com/bigquery/docs/batch-loading-data#load-wildcards (one ``*`` per
URI, in the object name); https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-parquet
(no wildcard over files of different schemas; timestamps in "Parquet conversions": only
UTC-adjusted parquet timestamps load as TIMESTAMP).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.files import writing
from mage_project.utils.results import LoadResult, RowCountMismatch
from mage_project.utils.schema import YELLOW_WAREHOUSE, WarehouseTable
from mage_project.utils.typed_file import TypedFile, iter_typed

#: The bucket folder of every warehouse-ready copy (outside the lake's datasets).
FOLDER = "_bigquery"
#: The warehouse table each colour's months are loaded into (green has none).
WAREHOUSE_TABLES = {YELLOW_WAREHOUSE.trips.color: YELLOW_WAREHOUSE}
PARQUET_OPTIONS = {"compression": "snappy", "coerce_timestamps": "us"}


def month_prefix(prefix: str) -> str:
    """Where the warehouse-ready copies of the lake dataset ``prefix`` live."""
    return f"{FOLDER}/{prefix.strip('/')}"


def object_names(slice_id: str) -> list[str]:
    """The month's objects, relative to :func:`month_prefix` (one today; the URI allows more)."""
    return [f"{slice_id}/part-00000.parquet"]


def source_uris(bucket: str, prefix: str, slice_id: str) -> list[str]:
    """The URIs the load job reads: every parquet object of the month's folder."""
    return [f"gs://{bucket}/{month_prefix(prefix)}/{slice_id}/*.parquet"]


def load_schema(spec: WarehouseTable) -> pa.Schema:
    """The objects' schema: the table's columns in table order, timestamps UTC-adjusted."""
    return pa.schema(
        pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
        for f in spec.arrow_schema
    )


def month_start(slice_id: str) -> date:
    """``2021-01`` → 2021-01-01 (the partition column's value of the month's rows)."""
    try:
        year, month = (int(part) for part in slice_id.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise TaxiDataError(
            f"Slice {slice_id!r} is not a month (YYYY-MM), so it has no BigQuery partition; load whole months."
        ) from None


def write_month(typed_path: Path, spec: WarehouseTable, slice_id: str, out: Path) -> int:
    """Stream the typed file into ``out`` with the table's columns; returns the rows."""
    schema = load_schema(spec)
    start = month_start(slice_id)
    rows = 0
    part = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with pq.ParquetWriter(part, schema, **PARQUET_OPTIONS) as writer:
            for batch in iter_typed(typed_path):
                n = batch.num_rows
                columns = [
                    pa.array([start] * n, f.type)
                    if f.name == spec.partition_field
                    else batch.column(f.name).cast(f.type)
                    for f in schema
                ]
                writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
                rows += n
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    return rows


@dataclass(frozen=True)
class MonthCopy:
    """The month's warehouse-ready objects, written locally and checked, not yet in GCS."""

    slice: str
    files: dict[str, Path]
    rows: int


def prepare_month(typed: TypedFile) -> MonthCopy | None:
    """Write the month's warehouse-ready file next to the typed file and check its rows (None
    for a colour no table loads). Call it BEFORE the lake's commit: a local failure then leaves
    every object as it was."""
    spec = WAREHOUSE_TABLES.get(typed.color)
    if spec is None:
        return None
    [name] = object_names(typed.slice)
    local = Path(typed.path).parent / "bigquery" / name
    with writing(local):
        rows = write_month(Path(typed.path), spec, typed.slice, local)
    if rows != typed.rows_kept:
        raise RowCountMismatch(
            f"The warehouse-ready copy of month {typed.slice}", typed.slice, rows, typed.rows_kept
        )
    return MonthCopy(typed.slice, {name: local}, rows)


def commit_month(copy: MonthCopy | None, bucket: str, prefix: str) -> LoadResult | None:
    """Replace the month's warehouse-ready objects of the lake dataset ``prefix`` with ``copy``
    (staged, verified, copied into place, nothing stale left). Call it under the slice's lock
    after the lake's objects: the copy BigQuery loads is then never ahead of the lake."""
    if copy is None:
        return None
    from mage_project.utils import gcs  # lazy: google-cloud-storage is only for GCS sinks

    return gcs.replace_slice_objects(
        bucket, month_prefix(prefix), copy.slice, copy.files,
        owned=lambda relative: relative.startswith(f"{copy.slice}/"),
        rows=copy.rows,
    )  # fmt: skip

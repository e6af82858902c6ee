"""Step 3c (export): replace one month of the stack's BigQuery table by ONE load job.

The table (``utils.schema.YELLOW_WAREHOUSE``) belongs to the stack (infra/components/
warehouse.py) or the twin, never to the pipeline: it is partitioned by MONTH on
``source_month_start`` (the first day of the file's month), so one source file is one
partition. A month is replaced by a load job with ``WRITE_TRUNCATE`` into its partition
decorator ``table$YYYYMM``:

- atomic (a failed load leaves the partition as it was) and touching no other partition;
- free: load jobs are not billed, and no query scans the table (the old ``CREATE OR REPLACE
  TABLE … AS SELECT … UNION ALL`` billed and rewrote the whole table on every run);
- no staging table; ``CREATE_NEVER``, so a missing table is an error, not a new unpartitioned
  table, and the runtime account needs no ``bigquery.datasets.create`` / ``tables.create``.

The source is the month's partitioned parquet in GCS, streamed object by object into one local
parquet with the table's columns (the pickup date from the Hive path, ``source_month_start``
added, timestamps UTC-adjusted so they load as TIMESTAMP), then uploaded by the load job.
Rows whose pickup falls outside the month stay in their file's partition.

Docs: https://cloud.google.com/bigquery/docs/managing-partitioned-table-data#partition_decorators
(``$YYYYMM`` for MONTH), https://cloud.google.com/bigquery/docs/load-data-partitioned-tables
(the decorator must match the partition column's values, else the load fails).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from mage_project.utils.clients import bigquery_client, project_id, storage_client
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.results import LoadResult, RowCountMismatch
from mage_project.utils.retries import google_call
from mage_project.utils.schema import YELLOW_WAREHOUSE, WarehouseTable
from mage_project.utils.settings import bigquery_emulator_host
from mage_project.utils.slices import MonthSlice

T = TypeVar("T")


def warehouse_table(table: str = YELLOW_WAREHOUSE.table_id) -> WarehouseTable:
    """The yellow table's definition under another table id (tests use their own tables)."""
    return dataclasses.replace(YELLOW_WAREHOUSE, table_id=table)


def bq_schema(spec: WarehouseTable) -> list[bigquery.SchemaField]:
    """The table's BigQuery fields, in table order."""
    return [bigquery.SchemaField(name, kind) for name, kind in spec.columns]


def bq_call(what: str, fn: Callable[[], T]) -> T:
    """Run one BigQuery call with our retry policy (retries.google_call); every call inside
    passes ``retry=None`` (and ``job_retry=None``)."""
    where = bigquery_emulator_host() or "BigQuery"
    return google_call(
        "BigQuery", where, what, fn, "BIGQUERY_DATASET", peer="bigquery", reason_limit=300
    )


def _load_schema(spec: WarehouseTable) -> pa.Schema:
    """The upload file's schema: the table's, timestamps UTC-adjusted (BigQuery reads parquet
    timestamps that are not UTC-adjusted as DATETIME)."""
    return pa.schema(
        pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
        for f in spec.arrow_schema
    )


def stage_month_file(
    bucket: str, prefix: str, month: MonthSlice, spec: WarehouseTable, out: Path
) -> tuple[int, int]:
    """Write the month's partitioned objects as one parquet with the table's columns; returns
    (rows, objects). Streams one object (one pickup date) at a time."""
    client = storage_client()
    prefix = prefix.strip("/")
    suffix = f"/{month.name}.parquet"
    blobs = [
        b
        for b in bq_gcs("listing the month's objects", lambda: list(
            client.list_blobs(bucket, prefix=prefix + "/", retry=None)))
        if b.name.endswith(suffix)
    ]  # fmt: skip
    if not blobs:
        raise TaxiDataError(
            f"There are no objects of month {month.name} under gs://{bucket}/{prefix}/; run api_to_gcs for that month first."
        )
    schema = _load_schema(spec)
    date_column = spec.trips.pickup_date_column
    start = date(month.year, month.month, 1)
    rows = 0
    part = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with pq.ParquetWriter(part, schema, compression="snappy") as writer:
            for blob in sorted(blobs, key=lambda b: b.name):
                day = date.fromisoformat(blob.name.rsplit("/", 2)[-2].split("=", 1)[1])
                data = bq_gcs(
                    f"reading {blob.name}", lambda b=blob: b.download_as_bytes(retry=None)
                )
                table = pq.read_table(pa.BufferReader(data))
                n = table.num_rows
                constant = {date_column: day, spec.partition_field: start}
                columns = [
                    pa.array([constant[f.name]] * n, f.type)
                    if f.name in constant
                    else table[f.name].cast(f.type)
                    for f in schema
                ]
                writer.write_table(pa.Table.from_arrays(columns, schema=schema))
                rows += n
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    return rows, len(blobs)


def bq_gcs(what: str, fn: Callable[[], T]) -> T:
    from mage_project.utils.gcs import gcs_call  # one retry policy and sentence for GCS

    return gcs_call(what, fn)


def load_partition(
    dataset: str, spec: WarehouseTable, month: MonthSlice, source: Path
) -> bigquery.LoadJob:
    """ONE load job: ``source`` replaces partition ``table$YYYYMM`` (WRITE_TRUNCATE,
    CREATE_NEVER). Returns the finished job (its statistics: rows, bytes; never billed)."""
    client = bigquery_client()
    table = f"{project_id()}.{dataset}.{spec.table_id}"
    destination = f"{table}${spec.partition_id(month.year, month.month)}"
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=bq_schema(spec),
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
    )

    def load() -> bigquery.LoadJob:
        try:
            with open(source, "rb") as handle:
                job = client.load_table_from_file(
                    handle,
                    destination,
                    job_config=config,
                    rewind=True,
                    timeout=600,
                    num_retries=0,  # our retry policy (bq_call), not 6 silent upload retries
                )
            return job.result(retry=None)
        except gexc.NotFound:
            raise TaxiDataError(
                f"BigQuery table {table} does not exist; the stack (`pulumi up`) or the twin (`make up`) creates it, never a pipeline, so deploy or start those first."
            ) from None

    return bq_call(f"loading month {month.name} into {destination}", load)


def replace_month_from_gcs(
    bucket: str,
    prefix: str,
    dataset: str,
    spec: WarehouseTable,
    month: MonthSlice,
    work: Path,
    expected_rows: int | None = None,
) -> LoadResult:
    """Replace ``month``'s partition of ``dataset.<spec.table_id>`` from its GCS objects;
    ``expected_rows`` (rows of those objects) must be what is staged and what the load wrote."""
    started = time.perf_counter()
    sink = f"BigQuery table {dataset}.{spec.table_id}"
    source = work / "bigquery.parquet"
    rows, _ = stage_month_file(bucket, prefix, month, spec, source)
    if expected_rows is not None and rows != expected_rows:  # before the load: unchanged
        raise RowCountMismatch(sink, month.name, rows, expected_rows, "its objects in GCS hold")
    job = load_partition(dataset, spec, month, source)
    loaded = job.output_rows if job.output_rows is not None else rows
    if loaded != rows:
        raise RowCountMismatch(sink, month.name, loaded, rows, "the load job read")
    return LoadResult(
        sink=f"bigquery:{project_id()}.{dataset}.{spec.table_id}",
        slice=month.name,
        rows=loaded,
        seconds=time.perf_counter() - started,
    )


def _exists(client: bigquery.Client, table: str) -> bool:
    try:
        client.get_table(table, retry=None)
        return True
    except gexc.NotFound:
        return False


def slice_counts(dataset: str, table: str) -> dict[str, int]:
    """Rows per ``source_month`` in a BigQuery table (empty if it does not exist)."""
    client = bigquery_client()
    final = f"{project_id()}.{dataset}.{table}"
    if not _exists(client, final):
        return {}
    result = client.query(
        f"SELECT source_month, COUNT(*) AS n FROM `{final}` GROUP BY 1 ORDER BY 1"
    ).result()
    return {row["source_month"]: row["n"] for row in result}

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

The source is the month's warehouse-ready parquet in GCS (utils/warehouse_objects.py: the
table's columns, written when the month lands in GCS), read by BigQuery itself from its
``gs://`` URI: the client sends the job and waits for it, no data passes through it. Rows
whose pickup falls outside the month stay in their file's partition.

Docs: https://cloud.google.com/bigquery/docs/managing-partitioned-table-data#partition_decorators
(``$YYYYMM`` for MONTH), https://cloud.google.com/bigquery/docs/load-data-partitioned-tables
(the decorator must match the partition column's values, else the load fails),
https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-parquet (loading parquet from
``gs://`` URIs; a URI that matches no object fails the job with ``notFound``, "Not found: URI …").
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from mage_project.utils.clients import bigquery_client, project_id
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.results import LoadResult
from mage_project.utils.retries import google_call
from mage_project.utils.schema import YELLOW_WAREHOUSE, WarehouseTable
from mage_project.utils.settings import bigquery_emulator_host
from mage_project.utils.slices import MonthSlice
from mage_project.utils.warehouse_objects import source_uris

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


def load_partition(
    dataset: str, spec: WarehouseTable, month: MonthSlice, uris: list[str]
) -> bigquery.LoadJob:
    """ONE load job: the objects at ``uris`` replace partition ``table$YYYYMM``
    (WRITE_TRUNCATE, CREATE_NEVER), read by BigQuery from GCS. Returns the finished job (its
    statistics: rows, files; never billed)."""
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
            # timeout: per HTTP call (the twin runs the load inside jobs.insert); the BigQuery
            # deadline (settings.DEADLINES) bounds the whole replace
            job = client.load_table_from_uri(
                uris, destination, job_config=config, retry=None, timeout=600
            )
            return job.result(retry=None)
        except gexc.NotFound as error:
            if "Not found: URI" in str(error):
                raise TaxiDataError(
                    f"Cloud Storage holds no warehouse objects of month {month.name} at {', '.join(uris)}, so BigQuery keeps that month as it was; run api_to_gcs for that month first."
                ) from None
            raise TaxiDataError(
                f"BigQuery table {table} does not exist; the stack (`pulumi up`) or the twin (`make up`) creates it, never a pipeline, so deploy or start those first."
            ) from None

    return bq_call(f"loading month {month.name} into {destination}", load)


def replace_month_from_gcs(
    bucket: str, prefix: str, dataset: str, spec: WarehouseTable, month: MonthSlice
) -> LoadResult:
    """Replace ``month``'s partition of ``dataset.<spec.table_id>`` by one load job from the
    month's warehouse-ready objects of the lake dataset ``prefix`` (BigQuery reads them)."""
    started = time.perf_counter()
    job = load_partition(dataset, spec, month, source_uris(bucket, prefix, month.name))
    return LoadResult(
        sink=f"bigquery:{project_id()}.{dataset}.{spec.table_id}",
        slice=month.name,
        rows=int(job.output_rows or 0),
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

"""Step 3c (export): replace one month of a BigQuery table from the partitioned parquet in GCS.

No data passes through the client:

1. a load job reads ``gs://<bucket>/<prefix>/*/<slice>.parquet`` (the slice's objects only)
   with an explicit schema — timestamps TIMESTAMP (the parquet is written in microseconds, so
   never the course's INT64 bug), lower snake_case names, the pickup date from the Hive path —
   into a per-slice staging table;
2. ONE statement swaps the slice in:
   ``CREATE OR REPLACE TABLE t AS SELECT * FROM t WHERE source_month != @slice UNION ALL
   SELECT * FROM staging`` — atomic, so the table is before or after, never half;
3. the staging table is dropped.

(``CREATE OR REPLACE ... AS`` instead of ``QueryJobConfig(destination=...)``, which the local
emulator ignores.)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from mage_project.utils.clients import bigquery_client, project_id
from mage_project.utils.results import LoadResult
from mage_project.utils.retries import google_call
from mage_project.utils.settings import bigquery_emulator_host

T = TypeVar("T")
BQ_TYPES = {
    pa.int64(): "INT64",
    pa.float64(): "FLOAT64",
    pa.string(): "STRING",
    pa.timestamp("us"): "TIMESTAMP",
    pa.date32(): "DATE",
}


def bq_schema(schema: pa.Schema, partition_column: str) -> list[bigquery.SchemaField]:
    """BigQuery fields in file order, with the Hive partition column last (as it is read)."""
    fields = [
        bigquery.SchemaField(f.name, BQ_TYPES[f.type]) for f in schema if f.name != partition_column
    ]
    return [*fields, bigquery.SchemaField(partition_column, "DATE")]


def bq_call(what: str, fn: Callable[[], T]) -> T:
    """Run one BigQuery call with our retry policy (retries.google_call); every call inside
    passes ``retry=None`` (and ``job_retry=None``)."""
    where = bigquery_emulator_host() or "BigQuery"
    return google_call("BigQuery", where, what, fn, "BIGQUERY_DATASET", reason_limit=300)


def replace_month_from_gcs(
    bucket: str,
    prefix: str,
    dataset: str,
    table: str,
    slice_id: str,
    schema: pa.Schema,
    partition_column: str,
) -> LoadResult:
    """Load the slice's partitioned objects and swap them into ``dataset.table`` (see module doc)."""
    started = time.perf_counter()
    client = bigquery_client()
    project = project_id()
    final = f"{project}.{dataset}.{table}"
    staging = f"{project}.{dataset}.{table}__load_{slice_id.replace('-', '_')}"
    uri = f"gs://{bucket}/{prefix.strip('/')}/*/{slice_id}.parquet"
    hive = bigquery.HivePartitioningOptions()
    hive.mode = "CUSTOM"
    hive.source_uri_prefix = f"gs://{bucket}/{prefix.strip('/')}/{{{partition_column}:DATE}}"
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=bq_schema(schema, partition_column),
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        hive_partitioning=hive,
    )
    bq_call(
        "creating the dataset",
        lambda: client.create_dataset(f"{project}.{dataset}", exists_ok=True, retry=None),
    )
    bq_call(
        "dropping an old staging table",
        lambda: client.delete_table(staging, not_found_ok=True, retry=None),
    )
    try:
        bq_call(
            f"loading {uri}",
            lambda: client.load_table_from_uri(uri, staging, job_config=config, retry=None).result(
                retry=None
            ),
        )
        rows = bq_call(
            "counting staged rows", lambda: client.get_table(staging, retry=None).num_rows
        )
        exists = bq_call("looking up the table", lambda: _exists(client, final))
        keep = (
            f"SELECT * FROM `{final}` WHERE source_month != '{slice_id}' UNION ALL "
            if exists
            else ""
        )
        sql = f"CREATE OR REPLACE TABLE `{final}` AS {keep}SELECT * FROM `{staging}`"
        bq_call(
            f"replacing month {slice_id} in {final}",
            lambda: client.query(sql, retry=None, job_retry=None).result(
                retry=None, job_retry=None
            ),
        )
    finally:
        with contextlib.suppress(Exception):  # cleanup must not hide the real error
            client.delete_table(staging, not_found_ok=True, retry=None, timeout=30)
    return LoadResult(
        sink=f"bigquery:{final}", slice=slice_id, rows=rows, seconds=time.perf_counter() - started
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

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
import os
import time
from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa
import requests
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from mage_project.utils import deadline as deadlines
from mage_project.utils.clients import bigquery_client, project_id
from mage_project.utils.deadline import Deadline, DeadlineExceeded
from mage_project.utils.errors import TaxiDataError, short_reason
from mage_project.utils.postgres import LoadResult, RowCountMismatch
from mage_project.utils.retries import call_with_retries
from mage_project.utils.settings import retry_attempts

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


def _transient(error: BaseException) -> bool:
    return isinstance(
        error,
        requests.ConnectionError | requests.Timeout | gexc.ServiceUnavailable | gexc.InternalServerError
        | gexc.TooManyRequests | gexc.BadGateway | gexc.GatewayTimeout,
    )  # fmt: skip


def bq_call(what: str, fn: Callable[[], T]) -> T:
    """Run one BigQuery call with our retry policy; a persistent failure becomes one sentence.

    Every call inside passes ``retry=None`` (and ``job_retry=None``): the client library's own
    default retry (up to 10 minutes per call) would otherwise hide an unreachable endpoint.
    All calls of a step share the BigQuery deadline (``TAXI_BIGQUERY_DEADLINE_SECONDS``): an
    endpoint that never replies fails the step in bounded time with one sentence."""
    where = os.environ.get("BIGQUERY_EMULATOR_HOST") or "BigQuery"
    deadline = deadlines.active("bigquery") or Deadline.start(
        "bigquery", f"BigQuery at {where}", _BQ_ADVICE
    )
    try:
        return deadline.run(lambda: call_with_retries(fn, _transient, ends=deadline.ends))
    except DeadlineExceeded:
        raise
    except (requests.RequestException, gexc.GoogleAPICallError) as error:
        if deadline.passed():
            raise deadline.error() from None
        tries = f" after {retry_attempts()} attempts" if _transient(error) else ""
        raise TaxiDataError(
            f"BigQuery at {where} failed while {what}{tries} ({short_reason(error, 300)}); start it (`make up`) or check BIGQUERY_DATASET and credentials, then re-run."
        ) from None


_OBJECTS_HOLD = "the month's partitioned objects in GCS hold"
_BQ_ADVICE = "check that it answers (`make up`) and BIGQUERY_DATASET"


def bigquery_timeout() -> float:
    """The per-request timeout handed to the client: what is left of the step's deadline."""
    active = deadlines.active("bigquery")
    return max(1.0, active.remaining()) if active else 60.0


def replace_month_from_gcs(
    bucket: str,
    prefix: str,
    dataset: str,
    table: str,
    slice_id: str,
    schema: pa.Schema,
    partition_column: str,
    expected_rows: int | None = None,
) -> LoadResult:
    """Load the slice's partitioned objects and swap them into ``dataset.table`` (see module doc);
    ``expected_rows`` (rows of those objects) must be what loaded and what the table then holds."""
    where = os.environ.get("BIGQUERY_EMULATOR_HOST") or "BigQuery"
    with deadlines.scope("bigquery", f"BigQuery at {where}", _BQ_ADVICE):
        return _replace_month_from_gcs(
            bucket, prefix, dataset, table, slice_id, schema, partition_column, expected_rows
        )


def _replace_month_from_gcs(
    bucket: str,
    prefix: str,
    dataset: str,
    table: str,
    slice_id: str,
    schema: pa.Schema,
    partition_column: str,
    expected_rows: int | None,
) -> LoadResult:
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
            lambda: client.load_table_from_uri(
                uri, staging, job_config=config, retry=None, timeout=bigquery_timeout()
            ).result(retry=None, timeout=bigquery_timeout()),
        )
        rows = bq_call(
            "counting staged rows",
            lambda: client.get_table(staging, retry=None, timeout=bigquery_timeout()).num_rows,
        )
        sink = f"BigQuery table {final}"
        if expected_rows is not None and rows != expected_rows:  # before the swap: unchanged
            raise RowCountMismatch(sink, slice_id, rows, expected_rows, _OBJECTS_HOLD)
        exists = bq_call("looking up the table", lambda: _exists(client, final))
        keep = (
            f"SELECT * FROM `{final}` WHERE source_month != '{slice_id}' UNION ALL "
            if exists
            else ""
        )
        sql = f"CREATE OR REPLACE TABLE `{final}` AS {keep}SELECT * FROM `{staging}`"
        bq_call(
            f"replacing month {slice_id} in {final}",
            lambda: client.query(
                sql, retry=None, job_retry=None, timeout=bigquery_timeout()
            ).result(retry=None, job_retry=None, timeout=bigquery_timeout()),
        )
        landed = bq_call(
            f"counting month {slice_id} in {final}", lambda: _month_rows(client, final, slice_id)
        )
        if landed != rows:
            raise RowCountMismatch(sink, slice_id, landed, rows, "the load job read")
    finally:
        with contextlib.suppress(Exception):  # cleanup must not hide the real error
            client.delete_table(staging, not_found_ok=True, retry=None, timeout=30)
    return LoadResult(
        sink=f"bigquery:{final}", slice=slice_id, rows=rows, seconds=time.perf_counter() - started
    )


def _month_rows(client: bigquery.Client, table: str, slice_id: str) -> int:
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("slice", "STRING", slice_id)]
    )
    query = f"SELECT COUNT(*) AS n FROM `{table}` WHERE source_month = @slice"
    job = client.query(
        query, job_config=config, retry=None, job_retry=None, timeout=bigquery_timeout()
    )
    return next(iter(job.result(retry=None, job_retry=None, timeout=bigquery_timeout())))["n"]


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

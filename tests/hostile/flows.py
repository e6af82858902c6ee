"""The data paths of the pipelines as the blocks run them (load → transform → exports), and
snapshots of every sink, for the hostile-input tests."""

from __future__ import annotations

from mage_project.utils import bigquery as bq
from mage_project.utils import ingest, lake
from mage_project.utils.gcs import STAGING_PREFIX
from mage_project.utils.slices import MonthSlice
from tests.sinks.sinkkit import gcs_snapshot, parquet_rows, pg_snapshot


def yellow_everywhere(month: MonthSlice, sinks) -> dict:
    """api_to_postgres + api_to_gcs (single and partitioned) + gcs_to_bigquery for one month."""
    typed = ingest.transform(ingest.load(month))
    ingest.export_postgres(typed, sinks.table)
    ingest.export_gcs_single(typed, single_name(sinks, month))
    ingest.export_gcs_partitioned(typed, sinks.prefix)
    ingest.export_bigquery(month, sinks.prefix, sinks.bq_table)
    return typed.to_dict()


def single_name(sinks, month: MonthSlice) -> str:
    return f"{sinks.prefix}_single/{month.color}_tripdata_{month.name}.parquet"


def state(sinks) -> dict:
    """Everything a run could change: Postgres rows, GCS objects (+ staging), BigQuery rows."""
    return {
        "postgres": pg_snapshot(sinks.table),
        "gcs": gcs_snapshot(sinks.bucket, sinks.prefix + "/"),
        "gcs_single": gcs_snapshot(sinks.bucket, sinks.prefix + "_single/"),
        "gcs_staging": gcs_snapshot(sinks.bucket, f"{STAGING_PREFIX}/{sinks.prefix}/"),
        "bigquery": bq.slice_counts(sinks.dataset, sinks.bq_table),
    }


def rows_per_sink(sinks, month: MonthSlice) -> dict[str, int]:
    """Rows of ``month`` in each sink of the yellow pipelines."""
    return {
        "postgres": pg_snapshot(sinks.table).get(month.name, (0, ""))[0],
        "single": parquet_rows(sinks.bucket, single_name(sinks, month)),
        "partitioned": lake.read_month(sinks.bucket, sinks.prefix, month.name).num_rows,
        "bigquery": bq.slice_counts(sinks.dataset, sinks.bq_table).get(month.name, 0),
    }

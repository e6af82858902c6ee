"""The data path as plain functions: load → transform → export, per slice.

Mage blocks call these (one step each) and so do the benchmarks and tests, without Mage.
Each step streams and hands the next one a small description (a dict), never a DataFrame
of the month: the staged ``.csv.gz`` → a typed, filtered parquet → the sinks. A pipeline whose
only sink is Postgres (``STREAMED_PIPELINES``) skips the parquet: its transform hands a plan and
the export types and filters the rows as they stream into the COPY (``stream_postgres``). The Google
clients are imported only by the steps that use them (google-cloud-bigquery alone takes ~1.5 s
and ~100 MB to import), so the Postgres pipelines start fast.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from datetime import date
from pathlib import Path

import pyarrow as pa

from mage_project.utils import postgres, warehouse_objects
from mage_project.utils.download import StagedFile, stage_month
from mage_project.utils.locks import slice_lock
from mage_project.utils.results import LoadResult
from mage_project.utils.schema import YELLOW_WAREHOUSE, schema_for
from mage_project.utils.settings import env, staging_dir, staging_keep_seconds, taxi_data_base_url
from mage_project.utils.slices import MonthSlice
from mage_project.utils.transform import TypedStream, stage_typed
from mage_project.utils.typed_file import TypedFile, TypedPlan, iter_typed

YELLOW_TABLE = "ny_taxi.yellow_cab_data"
GREEN_TABLE = "mage.green_taxi"
YELLOW_OBJECT_PREFIX = "nyc_taxi_data"
YELLOW_PARTITIONED_PREFIX = "nyc_taxi_data_partitioned"
GREEN_PARTITIONED_PREFIX = "green_taxi"
BIGQUERY_TABLE = YELLOW_WAREHOUSE.table_id
#: Pipelines whose transform feeds Postgres alone: no sink needs the typed file, so the rows
#: are typed as they stream into the COPY (parse and COPY overlap; no parquet round trip).
STREAMED_PIPELINES = frozenset({"api_to_postgres"})


def run_dir(color: str, slice_id: str) -> Path:
    """A new work folder for ONE run of a slice: ``<staging>/<color>/<slice>/<run>/``.

    Runs never share a staging path, so any number of concurrent runs of the same slice
    cannot truncate, rename or delete each other's files before they reach the slice lock.
    Run folders of the slice older than ``TAXI_STAGING_KEEP_SECONDS`` are removed here."""
    parent = staging_dir() / color / slice_id
    parent.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - staging_keep_seconds()
    for old in parent.iterdir():
        with contextlib.suppress(OSError):
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
    folder = parent / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def load(month: MonthSlice, base_url: str | None = None) -> StagedFile:
    """Load: the month's file, downloaded to this run's staging folder and its header checked."""
    return stage_month(month, base_url or taxi_data_base_url(), run_dir(month.color, month.name))


def transform(staged: StagedFile | dict, day: date | None = None) -> TypedFile:
    """Transform: typed, filtered, snake_case parquet of the staged file (``day``: one date only)."""
    staged = staged if isinstance(staged, StagedFile) else StagedFile(**staged)
    slice_id = day.isoformat() if day else staged.slice
    work = Path(staged.work_dir) if staged.work_dir else run_dir(staged.color, slice_id)
    out = work / f"typed-{slice_id}.parquet"
    try:
        return stage_typed(
            Path(staged.path), staged.color, staged.slice, out, name=Path(staged.source).name,
            day=day,
        )  # fmt: skip
    finally:
        release_memory()


def plan_stream(staged: StagedFile | dict) -> TypedPlan:
    """Transform, for a pipeline whose sink needs no typed file: check the header and hand the
    sink the plan (the rows are typed and filtered as they stream in, see ``stream_postgres``)."""
    staged = staged if isinstance(staged, StagedFile) else StagedFile(**staged)
    stream = TypedStream(Path(staged.path), staged.color, staged.slice, Path(staged.source).name)
    stream.warn()
    return TypedPlan(
        source_path=staged.path, color=staged.color, slice=staged.slice, source_name=stream.name,
        columns=stream.schema.sink_schema.names, dropped_columns=stream.dropped,
        null_columns=stream.as_null,
    )  # fmt: skip


def transform_for(staged: StagedFile | dict, pipeline: str | None) -> TypedFile | TypedPlan:
    """The transform step of ``pipeline``: a plan where its sink streams the typed rows itself
    (``STREAMED_PIPELINES``), else the typed parquet every sink reads."""
    return plan_stream(staged) if pipeline in STREAMED_PIPELINES else transform(staged)


def _plan(plan: TypedPlan | dict) -> TypedPlan:
    return plan if isinstance(plan, TypedPlan) else TypedPlan(**plan)


def is_plan(typed: TypedFile | TypedPlan | dict) -> bool:
    """Whether a transform handed a plan (rows typed as they stream) rather than a typed file."""
    return isinstance(typed, TypedPlan) or (isinstance(typed, dict) and "source_path" in typed)


def typed_head(plan: TypedPlan | dict, rows: int) -> pa.Table:
    """The first ``rows`` rows the plan keeps, typed (the head of the file only: a preview)."""
    plan = _plan(plan)
    return TypedStream(Path(plan.source_path), plan.color, plan.slice, plan.source_name).head(rows)


def release_memory() -> None:
    """Hand Arrow's freed buffers back to the OS between steps (the next step, or Mage, may
    need the room; the allocator would otherwise keep them)."""
    pa.default_memory_pool().release_unused()


def _typed(typed: TypedFile | dict) -> TypedFile:
    return typed if isinstance(typed, TypedFile) else TypedFile(**typed)


def stream_postgres(
    plan: TypedPlan | dict, table: str, dsn: str | None = None
) -> tuple[LoadResult, TypedFile]:
    """Export a plan: replace the slice in a Postgres table (one transaction, see postgres.py)
    with the rows typed and filtered as they stream in (a producer thread parses while the
    driver COPYs), and what was read and kept (its ``path`` is empty: no file was written).
    A data error anywhere in the file fails the COPY, so the table is unchanged."""
    plan = _plan(plan)
    stream = TypedStream(Path(plan.source_path), plan.color, plan.slice, plan.source_name)
    try:
        result = postgres.replace_slice(
            dsn or postgres.dsn_from_env(), table, plan.slice, stream.schema.sink_schema,
            stream.batches(),
        )  # fmt: skip
    finally:
        release_memory()
    return result, stream.described("")


def export_postgres(
    typed: TypedFile | TypedPlan | dict, table: str, dsn: str | None = None
) -> LoadResult:
    """Export: replace the slice in a Postgres table (one transaction, see postgres.py)."""
    if is_plan(typed):
        return stream_postgres(typed, table, dsn)[0]
    typed = _typed(typed)
    schema = schema_for(typed.color).sink_schema
    try:
        return postgres.replace_slice(
            dsn or postgres.dsn_from_env(),
            table,
            typed.slice,
            schema,
            iter_typed(Path(typed.path), batch_size=postgres.COPY_BATCH_ROWS),
            expected_rows=typed.rows_kept,
        )
    finally:
        release_memory()


def export_gcs_partitioned(typed: TypedFile | dict, prefix: str) -> LoadResult:
    """Export: replace the slice's ``<date col>=YYYY-MM-DD/<slice>.parquet`` objects."""
    typed = _typed(typed)
    from mage_project.utils import gcs  # lazy: google-cloud-storage is only for GCS sinks

    bucket = env("GCS_BUCKET")
    # GCS has no transactions: two runs of the same month would interleave their copies and
    # deletions, so they take turns (other months own other objects and run freely).
    copy = warehouse_objects.prepare_month(typed)  # what BigQuery's load job reads (yellow)
    with slice_lock(f"gs://{bucket}/{prefix.strip('/')}/", typed.slice):
        result = gcs.upload_partitioned(
            Path(typed.path), bucket, prefix, schema_for(typed.color).pickup_date_column,
            typed.slice, Path(typed.path).parent, expected_rows=typed.rows_kept,
        )  # fmt: skip
        warehouse_objects.commit_month(copy, bucket, prefix)
        return result


def export_gcs_single(
    typed: TypedFile | dict, object_name: str, slice_id: str | None = None
) -> LoadResult:
    """Export: the typed rows as one parquet object."""
    typed = _typed(typed)
    from mage_project.utils import gcs

    return gcs.upload_single(
        Path(typed.path),
        env("GCS_BUCKET"),
        object_name,
        slice_id or typed.slice,
        Path(typed.path).parent,
        expected_rows=typed.rows_kept,
    )


# --- staging steps: a multi-sink pipeline's exporters stage, one block commits (commit.py) ------


def stage_gcs_partitioned(typed: TypedFile | dict, prefix: str) -> list[dict]:
    """Stage the slice's partitioned objects (and their warehouse-ready copy) in this run's
    ``_staging/`` folder, checked; nothing a reader sees changes until ``commit.commit_all``."""
    typed = _typed(typed)
    from mage_project.utils import gcs

    bucket = env("GCS_BUCKET")
    lock = f"gs://{bucket}/{prefix.strip('/')}/"  # the lock export_gcs_partitioned takes
    copy = warehouse_objects.prepare_month(typed)
    staged = [
        gcs.stage_partitioned(
            Path(typed.path), bucket, prefix, schema_for(typed.color).pickup_date_column,
            typed.slice, Path(typed.path).parent, expected_rows=typed.rows_kept,
        ).to_dict()
    ]  # fmt: skip
    if copy is not None:
        staged.append(
            gcs.stage_slice_objects(
                bucket, warehouse_objects.month_prefix(prefix), copy.slice, copy.files,
                copy.rows, owned_start=f"{copy.slice}/",
            ).to_dict()
        )  # fmt: skip
    return [{**entry, "lock": lock} for entry in staged]


def stage_gcs_single(
    typed: TypedFile | dict, object_name: str, slice_id: str | None = None
) -> list[dict]:
    """Stage the typed rows as one parquet object (committed by ``commit.commit_all``)."""
    typed = _typed(typed)
    from mage_project.utils import gcs

    staged = gcs.stage_single(
        Path(typed.path), env("GCS_BUCKET"), object_name, slice_id or typed.slice,
        Path(typed.path).parent, expected_rows=typed.rows_kept,
    )  # fmt: skip
    return [staged.to_dict()]


def stage_postgres(typed: TypedFile | dict, table: str) -> list[dict]:
    """Describe the slice's Postgres load for ``commit.commit_all`` (one transaction there)."""
    return [staged_postgres(_typed(typed).to_dict(), table)]


def staged_postgres(typed: dict, table: str) -> dict:
    """What the Postgres staging step hands on: the typed file and the table (the load is one
    transaction, so it is staged and committed at once, in the commit step)."""
    return {"kind": "postgres", "table": table, "slice": typed["slice"], "typed": typed}


def export_bigquery(
    month: MonthSlice, prefix: str = YELLOW_PARTITIONED_PREFIX, table: str = BIGQUERY_TABLE
) -> LoadResult:
    """Export: replace the month's partition of the stack's BigQuery table (one load job)."""
    from mage_project.utils import bigquery as bq  # lazy: its import alone takes ~1.5 s

    dataset = env("BIGQUERY_DATASET", "ny_taxi")
    bucket = env("GCS_BUCKET")
    # Each month is its own partition, replaced atomically, so different months load at once;
    # two runs of the same month take turns (the result is one run's, as for GCS).
    with slice_lock(f"bigquery:{dataset}.{table}", month.name):
        # BigQuery reads the month's warehouse-ready objects itself: the client sends the job
        return bq.replace_month_from_gcs(bucket, prefix, dataset, bq.warehouse_table(table), month)


def daily_object_name(day: date) -> str:
    """``YYYY/MM/DD/daily-trips.parquet``."""
    return f"{day:%Y/%m/%d}/daily-trips.parquet"


def ingest_month_to_postgres(
    month: MonthSlice,
    table: str = YELLOW_TABLE,
    dsn: str | None = None,
    base_url: str | None = None,
) -> LoadResult:
    """The whole api_to_postgres data path in one call (for benchmarks and scripts)."""
    started = time.perf_counter()
    result = export_postgres(transform_for(load(month, base_url), "api_to_postgres"), table, dsn)
    result.seconds = time.perf_counter() - started
    return result

"""Step 3b (export): replace one slice's objects in the GCS lake, never leaving a half slice.

Layouts (``<slice>`` is the source month, e.g. ``2021-01``):

- one object per month:   ``<prefix>/<color>_tripdata_<slice>.parquet``
- partitioned by pickup:  ``<prefix>/<date column>=YYYY-MM-DD/<slice>.parquet`` — every
  partition folder holds one object per source month, so a re-run of a month rewrites exactly
  its own objects and deletes the ones it no longer produces (nothing stale is left);
- one object per day:     ``YYYY/MM/DD/daily-trips.parquet`` (parameterized pipeline).

GCS has no multi-object transaction. The slow part (uploads) goes to
``_staging/<prefix>/<slice>/<run>/`` outside the dataset, so a kill during upload leaves the
dataset as before; only then are the objects copied into place server-side (milliseconds
each, no data through the client) and the stale ones deleted. A run killed in that short
commit phase leaves whole, readable objects, and the next run of the slice converges.
Parquet timestamps are written in microseconds (never ns: BigQuery would read INT64).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from google.cloud import storage

from mage_project.utils.clients import storage_client
from mage_project.utils.results import LoadResult
from mage_project.utils.retries import google_call
from mage_project.utils.settings import storage_emulator_host
from mage_project.utils.transform import iter_typed

T = TypeVar("T")
STAGING_PREFIX = "_staging"
PARQUET_OPTIONS = {
    "compression": "snappy",
    "coerce_timestamps": "us",
    "allow_truncated_timestamps": False,
}


def gcs_call(what: str, fn: Callable[[], T]) -> T:
    """Run one GCS call with our retry policy (retries.google_call); every call inside passes
    ``retry=None``."""
    where = storage_emulator_host() or "Google Cloud Storage"
    return google_call("Cloud Storage", where, what, fn, "GCS_BUCKET")


def write_single(typed_path: Path, out: Path) -> int:
    """Copy the typed staging file to one parquet file (streamed); returns rows."""
    rows = 0
    part = out.with_name(out.name + ".part")
    writer = None
    try:
        for batch in iter_typed(typed_path):
            if writer is None:
                writer = pq.ParquetWriter(part, batch.schema, **PARQUET_OPTIONS)
            writer.write_batch(batch)
            rows += batch.num_rows
        if writer is None:
            writer = pq.ParquetWriter(part, pq.read_schema(typed_path), **PARQUET_OPTIONS)
        writer.close()
        writer = None
        part.replace(out)
    finally:
        if writer is not None:
            writer.close()
        part.unlink(missing_ok=True)
    return rows


def write_partitioned(
    typed_path: Path, out_dir: Path, date_column: str, file_name: str
) -> dict[str, int]:
    """Split the typed file by ``date_column`` into ``out_dir/<date_column>=<date>/<file_name>``
    (the date lives in the path, not in the file, as pyarrow/Hive readers expect).

    Streams batch by batch with one open writer per date; returns rows per relative path.
    """
    writers: dict[str, pq.ParquetWriter] = {}
    rows: dict[str, int] = {}
    try:
        for batch in iter_typed(typed_path):
            table = pa.Table.from_batches([batch])
            dates = table[date_column]
            body = table.drop_columns([date_column])
            for day in pc.unique(dates).to_pylist():
                if day is None:
                    continue
                relative = f"{date_column}={day.isoformat()}/{file_name}"
                if relative not in writers:
                    (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
                    writers[relative] = pq.ParquetWriter(
                        out_dir / relative, body.schema, **PARQUET_OPTIONS
                    )
                    rows[relative] = 0
                chunk = body.filter(pc.equal(dates, pa.scalar(day, pa.date32())))
                writers[relative].write_table(chunk)
                rows[relative] += chunk.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return rows


def _upload(bucket: storage.Bucket, name: str, path: Path) -> None:
    gcs_call(
        f"uploading {name}", lambda: bucket.blob(name).upload_from_filename(str(path), retry=None)
    )


def replace_slice_objects(
    bucket_name: str,
    prefix: str,
    slice_id: str,
    files: dict[str, Path],
    owned: Callable[[str], bool],
    rows: int,
) -> LoadResult:
    """Make the slice's objects under ``prefix`` exactly ``files`` (relative name → local file).

    ``owned(relative_name)`` says whether an existing object belongs to this slice (so stale
    ones are deleted and other slices' objects are never touched).
    """
    started = time.perf_counter()
    client = storage_client()
    bucket = client.bucket(bucket_name)
    prefix = prefix.strip("/")
    staging_root = f"{STAGING_PREFIX}/{prefix}/{slice_id}/"
    for old in gcs_call(
        "listing old staging objects",
        lambda: list(client.list_blobs(bucket_name, prefix=staging_root, retry=None)),
    ):
        gcs_call(f"deleting {old.name}", lambda old=old: old.delete(retry=None))
    run_root = f"{staging_root}{uuid.uuid4().hex}/"
    for relative, path in sorted(files.items()):
        _upload(bucket, run_root + relative, path)
    for relative in sorted(files):
        source = bucket.blob(run_root + relative)
        gcs_call(
            f"copying {relative} into place",
            lambda source=source, relative=relative: bucket.copy_blob(
                source, bucket, f"{prefix}/{relative}", retry=None
            ),
        )
    existing = gcs_call(
        "listing the dataset",
        lambda: list(client.list_blobs(bucket_name, prefix=f"{prefix}/", retry=None)),
    )
    for blob in existing:
        relative = blob.name[len(prefix) + 1 :]
        if relative not in files and owned(relative):
            gcs_call(f"deleting stale {blob.name}", lambda blob=blob: blob.delete(retry=None))
    for blob in gcs_call(
        "listing staging objects",
        lambda: list(client.list_blobs(bucket_name, prefix=run_root, retry=None)),
    ):
        gcs_call(f"deleting {blob.name}", lambda blob=blob: blob.delete(retry=None))
    return LoadResult(
        sink=f"gs://{bucket_name}/{prefix}/",
        slice=slice_id,
        rows=rows,
        seconds=time.perf_counter() - started,
    )


def upload_partitioned(
    typed_path: Path, bucket_name: str, prefix: str, date_column: str, slice_id: str, work_dir: Path
) -> LoadResult:
    """Partition the typed file by date and replace the slice's ``<date>/<slice>.parquet`` objects."""
    file_name = f"{slice_id}.parquet"
    out_dir = work_dir / "partitioned"
    if out_dir.exists():
        for old in sorted(out_dir.rglob("*"), reverse=True):
            old.unlink() if old.is_file() else old.rmdir()
    counts = write_partitioned(typed_path, out_dir, date_column, file_name)
    files = {relative: out_dir / relative for relative in counts}
    return replace_slice_objects(
        bucket_name, prefix, slice_id, files,
        owned=lambda rel: rel.startswith(f"{date_column}=") and rel.endswith("/" + file_name),
        rows=sum(counts.values()),
    )  # fmt: skip


def upload_single(
    typed_path: Path, bucket_name: str, object_name: str, slice_id: str, work_dir: Path
) -> LoadResult:
    """Write the typed file as one parquet object (a single upload is atomic in GCS)."""
    started = time.perf_counter()
    local = work_dir / Path(object_name).name
    rows = write_single(typed_path, local)
    bucket = storage_client().bucket(bucket_name)
    _upload(bucket, object_name, local)
    return LoadResult(
        sink=f"gs://{bucket_name}/{object_name}",
        slice=slice_id,
        rows=rows,
        seconds=time.perf_counter() - started,
    )


def list_objects(bucket_name: str, prefix: str) -> list[storage.Blob]:
    client = storage_client()
    return gcs_call(
        "listing objects", lambda: list(client.list_blobs(bucket_name, prefix=prefix, retry=None))
    )

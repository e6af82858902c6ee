"""Step 3b (export): replace one slice's objects in the GCS lake, never leaving a half slice.

Layouts (``<slice>`` is the source month, e.g. ``2021-01``):

- one object per month:   ``<prefix>/<color>_tripdata_<slice>.parquet``
- partitioned by pickup:  ``<prefix>/<date column>=YYYY-MM-DD/v<version>/<slice>.parquet`` —
  every partition folder holds one object per source month; each run writes a new version and
  switches the month's manifest (``<prefix>/_manifests/<slice>.json``, manifest.py), then deletes
  the month's other objects, so readers of the manifest (lake.py) never see half a month;
- one object per day:     ``YYYY/MM/DD/daily-trips.parquet`` (parameterized pipeline).

GCS has no multi-object transaction. The slow part (uploads) goes to
``_staging/<prefix>/<slice>/<run>/`` outside the dataset, so a kill during upload leaves the
dataset as before; only then are the objects copied into place server-side (milliseconds
each, no data through the client) and the stale ones deleted. A run killed in that short
commit phase leaves whole, readable objects, and the next run of the slice converges.
Parquet timestamps are written in microseconds (never ns: BigQuery would read INT64).

Row counts: the local files must hold exactly the rows the transform kept, and the objects
that landed (staged, then in place) must be byte-for-byte those files (size and MD5), else the
run fails — before the commit phase when the staged upload differs (dataset unchanged).
Every export step runs under the GCS deadline (``TAXI_GCS_DEADLINE_SECONDS``).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from google.cloud import storage

from mage_project.utils import deadline as deadlines
from mage_project.utils.clients import storage_client
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.files import writing
from mage_project.utils.manifest import Manifest, manifest_name, versioned
from mage_project.utils.results import LoadResult, RowCountMismatch
from mage_project.utils.retries import google_call
from mage_project.utils.settings import staging_keep_seconds, storage_emulator_host
from mage_project.utils.typed_file import iter_typed

T = TypeVar("T")
P = ParamSpec("P")
STAGING_PREFIX = "_staging"
PARQUET_OPTIONS = {
    "compression": "snappy",
    "coerce_timestamps": "us",
    "allow_truncated_timestamps": False,
}


def _where() -> str:
    return storage_emulator_host() or "Google Cloud Storage"


def gcs_scope():
    """One GCS deadline for a whole export step (every call inside shares it)."""
    return deadlines.scope(
        "gcs", f"Cloud Storage at {_where()}", "check that it answers (`make up`) and GCS_BUCKET"
    )


def _in_gcs_scope(fn: Callable[P, T]) -> Callable[P, T]:
    """Run each call of ``fn`` under one :func:`gcs_scope`."""

    @functools.wraps(fn)
    def scoped(*args: P.args, **kwargs: P.kwargs) -> T:
        with gcs_scope():
            return fn(*args, **kwargs)

    return scoped


def gcs_call(what: str, fn: Callable[[], T]) -> T:
    """Run one GCS call with our retry policy under the GCS deadline (retries.google_call);
    every call inside passes ``retry=None``."""
    return google_call("Cloud Storage", _where(), what, fn, "GCS_BUCKET", peer="gcs")


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
            if dates.null_count:  # never dropped silently (the transform refuses such rows)
                raise TaxiDataError(
                    f"{typed_path.name} has rows without {date_column}, which no partition can hold; re-run the pipeline from its first block."
                )
            for day in pc.unique(dates).to_pylist():
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


def _clear(client: storage.Client, bucket_name: str, root: str) -> None:
    """Best effort: delete this run's staged objects under ``root`` within what is left of the
    GCS deadline (never past it; the next run of the slice clears staging anyway)."""
    active = deadlines.active("gcs")
    left = active.remaining() if active else 10.0
    if left <= 0.5:
        return
    with contextlib.suppress(Exception):
        deadlines.Deadline("gcs", "", "", "", left, time.monotonic() + min(10.0, left)).run(
            lambda: [
                blob.delete(retry=None, timeout=5)
                for blob in client.list_blobs(bucket_name, prefix=root, retry=None, timeout=5)
            ]
        )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _landed(client: storage.Client, bucket_name: str, root: str) -> dict[str, tuple[int, str]]:
    """Relative name → (size, MD5) of every object under ``root``."""
    blobs = gcs_call(
        f"listing {root}", lambda: list(client.list_blobs(bucket_name, prefix=root, retry=None))
    )
    return {b.name[len(root) :]: (int(b.size or 0), b.md5_hash or "") for b in blobs}


def _check_rows(sink: str, slice_id: str, written: int, expected: int | None) -> None:
    if expected is not None and written != expected:
        raise RowCountMismatch(sink, slice_id, written, expected)


@dataclass
class StagedObjects:
    """A slice's objects uploaded to this run's staging folder and verified, not yet in place
    (plain data: Mage hands it from the staging blocks to the commit block as JSON).

    ``files``: relative name → [size, MD5] as uploaded. The slice owns the existing objects
    under ``prefix`` whose relative name starts with ``owned_start`` and ends with
    ``owned_end`` (``exact``: only the names in ``files``, e.g. a single object)."""

    bucket: str
    prefix: str
    slice: str
    run_root: str
    files: dict[str, list]
    rows: int
    owned_start: str = ""
    owned_end: str = ""
    exact: bool = False
    kind: str = "gcs"
    manifest: str = ""  # a versioned dataset's month pointer (manifest.py), switched in the commit

    def owned(self, relative: str) -> bool:
        if self.exact:
            return relative in self.files
        return relative.startswith(self.owned_start) and relative.endswith(self.owned_end)

    @property
    def sink(self) -> str:
        """``gs://bucket/prefix/`` (a dataset) or ``gs://bucket/folder/name`` (one object)."""
        root = f"{self.prefix}/" if self.prefix else ""
        if self.exact and len(self.files) == 1:
            return f"gs://{self.bucket}/{root}{next(iter(self.files))}"
        return f"gs://{self.bucket}/{root}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StagedObjects:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _clear_old_staging(
    client: storage.Client, bucket_name: str, staging_root: str, everything: bool = False
) -> None:
    """Delete staged objects of the slice that are older than ``TAXI_STAGING_KEEP_SECONDS``
    (left by runs that died or whose sibling block failed). Younger ones may belong to a run
    that is still staging, so they stay — unless ``everything`` (only under the slice's lock)."""
    cutoff = time.time() - staging_keep_seconds()
    for old in gcs_call(
        "listing old staging objects",
        lambda: list(client.list_blobs(bucket_name, prefix=staging_root, retry=None)),
    ):
        if everything or (old.updated is not None and old.updated.timestamp() < cutoff):
            gcs_call(f"deleting {old.name}", lambda old=old: old.delete(retry=None))


@_in_gcs_scope
def stage_slice_objects(
    bucket_name: str,
    prefix: str,
    slice_id: str,
    files: dict[str, Path],
    rows: int,
    owned_start: str = "",
    owned_end: str = "",
    exact: bool = False,
    clear_staging: bool = False,
    manifest: str = "",
) -> StagedObjects:
    """Upload ``files`` to this run's staging folder and check that what landed is exactly
    them; nothing under ``prefix`` changes. ``clear_staging``: first delete every staged object
    of the slice (only under the slice's lock); else only those older than the keep time.
    ``manifest``: the commit switches this pointer to ``files`` (a versioned dataset)."""
    client = storage_client()
    bucket = client.bucket(bucket_name)
    prefix = prefix.strip("/")
    staging_root = f"{STAGING_PREFIX}/{prefix}/{slice_id}/"
    _clear_old_staging(client, bucket_name, staging_root, everything=clear_staging)
    run_root = f"{staging_root}{uuid.uuid4().hex}/"
    recorded = {relative: [path.stat().st_size, _md5(path)] for relative, path in files.items()}
    try:
        for relative, path in sorted(files.items()):
            _upload(bucket, run_root + relative, path)
        # what was staged is exactly what was written, or nothing is committed (dataset unchanged)
        staged = _landed(client, bucket_name, run_root)
        _verify_sizes(staged, recorded, f"gs://{bucket_name}/{run_root}", slice_id, rows)
    except BaseException:
        _clear(client, bucket_name, run_root)
        raise
    return StagedObjects(
        bucket_name, prefix, slice_id, run_root, recorded, rows, owned_start, owned_end, exact,
        manifest=manifest,
    )  # fmt: skip


def _verify_sizes(
    landed: dict[str, tuple[int, str]], files: dict[str, list], where: str, slice_id: str, rows: int
) -> None:
    """The objects that landed must be exactly ``files`` (recorded size and MD5)."""
    for relative, (size, md5) in files.items():
        got_size, got_md5 = landed.get(relative, (-1, ""))
        if got_size != size or (got_md5 and got_md5 != md5):
            raise TaxiDataError(
                f"Cloud Storage object {where}{relative} does not hold what was uploaded ({got_size} bytes there, {size} sent), so slice {slice_id} ({rows:,} rows) is not complete there; re-run the pipeline, and check the bucket if it happens again."
            )


#: Where a versioned commit stopped, on its error as ``switched``: the manifest was not yet
#: written ("before": readers see the old month), was being written ("during": old or new,
#: whole) or was written ("after": readers see the new month).
SWITCH_STATES = ("before", "during", "after")


@_in_gcs_scope
def commit_staged_objects(
    staged: StagedObjects, owned: Callable[[str], bool] | None = None
) -> LoadResult:
    """Put the staged objects in place (server-side copies, milliseconds each), switch the
    month's manifest (versioned datasets), delete the slice's objects it no longer produces
    (superseded versions, orphans of failed runs), remove the staging folder and check the
    result. The staged objects are checked again first, so a commit never starts on a partial
    stage. An error carries ``switched`` (:data:`SWITCH_STATES`) for versioned datasets."""
    state = ["before"]
    try:
        return _commit(staged, owned or staged.owned, state)
    except BaseException as error:
        with contextlib.suppress(AttributeError):
            error.switched = state[0]
        raise


def _commit(staged: StagedObjects, owned: Callable[[str], bool], state: list[str]) -> LoadResult:
    started = time.perf_counter()
    client = storage_client()
    bucket = client.bucket(staged.bucket)
    prefix, run_root, slice_id, rows = staged.prefix, staged.run_root, staged.slice, staged.rows
    root = f"{prefix}/" if prefix else ""
    ready = _landed(client, staged.bucket, run_root)
    _verify_sizes(ready, staged.files, f"gs://{staged.bucket}/{run_root}", slice_id, rows)
    for relative in sorted(staged.files):
        source = bucket.blob(run_root + relative)
        gcs_call(
            f"copying {relative} into place",
            lambda source=source, relative=relative: bucket.copy_blob(
                source, bucket, f"{root}{relative}", retry=None
            ),
        )
    if staged.manifest:
        state[0] = "during"
        _switch(bucket, staged)
        state[0] = "after"  # from here on readers of the manifest see the new month
    existing = gcs_call(
        "listing the dataset",
        lambda: list(client.list_blobs(staged.bucket, prefix=root, retry=None)),
    )
    for blob in existing:
        relative = blob.name[len(root) :]
        if relative not in staged.files and owned(relative):
            gcs_call(f"deleting stale {blob.name}", lambda blob=blob: blob.delete(retry=None))
    for blob in gcs_call(
        "listing staging objects",
        lambda: list(client.list_blobs(staged.bucket, prefix=run_root, retry=None)),
    ):
        gcs_call(f"deleting {blob.name}", lambda blob=blob: blob.delete(retry=None))
    # after the commit: the slice's objects in the dataset are exactly the files, nothing stale
    landed = {k: v for k, v in _landed(client, staged.bucket, root).items() if owned(k)}
    _verify_sizes(landed, staged.files, f"gs://{staged.bucket}/{root}", slice_id, rows)
    stale = sorted(set(landed) - set(staged.files))
    if stale:
        raise TaxiDataError(
            f"Cloud Storage still holds gs://{staged.bucket}/{root}{stale[0]}, which slice {slice_id} no longer produces; re-run the pipeline, and check who writes there if it happens again."
        )
    return LoadResult(
        sink=staged.sink, slice=slice_id, rows=rows, seconds=time.perf_counter() - started
    )


def _switch(bucket: storage.Bucket, staged: StagedObjects) -> None:
    """Point the month's manifest at the new version: ONE object write (atomic in GCS)."""
    body = Manifest(staged.slice, staged.rows, staged.files).to_json()
    gcs_call(
        f"switching {staged.manifest}",
        lambda: bucket.blob(staged.manifest).upload_from_string(
            body, content_type="application/json", retry=None
        ),
    )


def discard_staged_objects(staged: StagedObjects) -> None:
    """Best effort, bounded: remove a staged run that will not be committed."""
    with gcs_scope():
        _clear(storage_client(), staged.bucket, staged.run_root)


@_in_gcs_scope
def replace_slice_objects(
    bucket_name: str,
    prefix: str,
    slice_id: str,
    files: dict[str, Path],
    owned: Callable[[str], bool],
    rows: int,
) -> LoadResult:
    """Make the slice's objects under ``prefix`` exactly ``files`` (relative name → local file):
    stage, then commit at once (call it under the slice's lock).

    ``owned(relative_name)`` says whether an existing object belongs to this slice (so stale
    ones are deleted and other slices' objects are never touched).
    """
    staged = stage_slice_objects(bucket_name, prefix, slice_id, files, rows, clear_staging=True)
    return commit_staged_objects(staged, owned)


def stage_partitioned(
    typed_path: Path,
    bucket_name: str,
    prefix: str,
    date_column: str,
    slice_id: str,
    work_dir: Path,
    expected_rows: int | None = None,
    clear_staging: bool = False,
) -> StagedObjects:
    """Partition the typed file by date into local files (``expected_rows``, the rows the
    transform kept, must be what is written) and stage them as the slice's new version: one
    version folder in each partition, made current when the commit switches the month's
    manifest (manifest.py). ``clear_staging`` as :func:`stage_slice_objects`."""
    out_dir = work_dir / "partitioned"
    if out_dir.exists():
        for old in sorted(out_dir.rglob("*"), reverse=True):
            old.unlink() if old.is_file() else old.rmdir()
    with writing(out_dir):
        counts = write_partitioned(typed_path, out_dir, date_column, f"{slice_id}.parquet")
    rows = sum(counts.values())
    where = f"gs://{bucket_name}/{prefix.strip('/')}/"
    _check_rows(f"The partitioned objects under {where}", slice_id, rows, expected_rows)
    version = uuid.uuid4().hex[:12]
    return stage_slice_objects(
        bucket_name, prefix, slice_id,
        {versioned(relative, version): out_dir / relative for relative in counts}, rows,
        owned_start=f"{date_column}=", owned_end=f"/{slice_id}.parquet",
        clear_staging=clear_staging, manifest=manifest_name(prefix, slice_id),
    )  # fmt: skip


def stage_single(
    typed_path: Path,
    bucket_name: str,
    object_name: str,
    slice_id: str,
    work_dir: Path,
    expected_rows: int | None = None,
) -> StagedObjects:
    """Write the typed file as one parquet object locally (``expected_rows`` checked) and
    stage it; its commit is one server-side copy (atomic in GCS)."""
    local = work_dir / Path(object_name).name
    with writing(local):
        rows = write_single(typed_path, local)
    _check_rows(f"The object gs://{bucket_name}/{object_name}", slice_id, rows, expected_rows)
    folder, _, name = object_name.rpartition("/")
    return stage_slice_objects(bucket_name, folder, slice_id, {name: local}, rows, exact=True)


def _then_commit(stage: Callable[P, StagedObjects], **fixed: bool) -> Callable[P, LoadResult]:
    """``stage`` (with ``fixed`` keyword arguments), then its commit at once: the export of a
    pipeline with one sink (call it under the slice's lock when the slice has one)."""

    @functools.wraps(stage)
    def committed(*args: P.args, **kwargs: P.kwargs) -> LoadResult:
        return commit_staged_objects(stage(*args, **{**kwargs, **fixed}))

    committed.__doc__ = f"{stage.__name__}, then committed at once (returns the LoadResult)."
    return committed


#: Replace the slice's partitioned objects (under the slice's lock: it clears its staging).
upload_partitioned = _then_commit(stage_partitioned, clear_staging=True)
#: Replace one object (a single object's copy into place is atomic in GCS).
upload_single = _then_commit(stage_single)


def parquet_rows(bucket_name: str, blobs: list[storage.Blob]) -> int:
    """Rows in the parquet objects ``blobs``, from their footers (the tail of each object)."""
    total = 0
    with gcs_scope():
        for blob in blobs:
            size = int(blob.size or 0)
            tail = gcs_call(
                f"reading the footer of {blob.name}",
                lambda blob=blob, size=size: blob.download_as_bytes(
                    start=max(0, size - 65536), retry=None
                ),
            )
            length = int.from_bytes(tail[-8:-4], "little") + 8
            if length > len(tail) and length <= size:
                tail = gcs_call(
                    f"reading the footer of {blob.name}",
                    lambda blob=blob, size=size, length=length: blob.download_as_bytes(
                        start=size - length, retry=None
                    ),
                )
            try:
                total += pq.read_metadata(pa.BufferReader(tail)).num_rows
            except (pa.ArrowInvalid, OSError):
                raise TaxiDataError(
                    f"gs://{bucket_name}/{blob.name} is not a readable parquet object; re-run the pipeline that writes it (api_to_gcs) for that month."
                ) from None
    return total


def list_objects(bucket_name: str, prefix: str) -> list[storage.Blob]:
    client = storage_client()
    return gcs_call(
        "listing objects", lambda: list(client.list_blobs(bucket_name, prefix=prefix, retry=None))
    )

"""Read a partitioned dataset of the lake as its manifests say: each month entirely old or
entirely new, even while a run commits it (the layout: manifest.py).

The reader reads the month's manifest, then the objects it lists. A commit deletes the
superseded version right after switching the manifest, so an object may vanish under a reader
that read the old manifest: the reader then reads the new manifest and starts the month again
(at most :data:`ATTEMPTS` times, all within the GCS deadline). A month written before manifests
existed (no manifest) is its unversioned objects ``<date>=D/<slice>.parquet``.

A plain listing of the dataset (``gsutil ls``, a Hive reader over the prefix) is not atomic:
during a commit, or after a commit that failed until the next run of the month, it can list both
versions of a month (its rows twice) — read through this module instead (docs/pipelines.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core.exceptions import NotFound

from mage_project.utils.clients import storage_client
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.gcs import gcs_call, gcs_scope
from mage_project.utils.manifest import MANIFESTS, Manifest, is_legacy, manifest_name, partition_of

ATTEMPTS = 5


@dataclass(frozen=True)
class MonthVersion:
    """The objects that hold one month now (names relative to the dataset's prefix)."""

    bucket: str
    prefix: str
    slice: str
    objects: list[str]
    generation: int | None  # the manifest's (None: a month written before manifests)

    def name(self, relative: str) -> str:
        return f"{self.prefix}/{relative}"

    @property
    def partitions(self) -> list[str]:
        """The month's partition folders, e.g. ``tpep_pickup_date=2021-01-05``."""
        return sorted({relative.split("/", 1)[0] for relative in self.objects})


def _bytes_or_none(blob) -> bytes | None:
    try:
        return blob.download_as_bytes(retry=None)
    except NotFound:
        return None


def current(bucket: str, prefix: str, slice_id: str) -> MonthVersion:
    """The month's current objects: its manifest's, else its unversioned objects."""
    prefix = prefix.strip("/")
    blob = storage_client().bucket(bucket).blob(manifest_name(prefix, slice_id))
    with gcs_scope():
        found = gcs_call(f"reading {blob.name}", lambda: _manifest_or_none(blob))
        if found is not None:
            manifest, generation = found
            return MonthVersion(bucket, prefix, slice_id, sorted(manifest.objects), generation)
        suffix = f"/{slice_id}.parquet"
        listed = gcs_call(
            f"listing gs://{bucket}/{prefix}/",
            lambda: list(storage_client().list_blobs(bucket, prefix=f"{prefix}/", retry=None)),
        )
    legacy = [
        b.name[len(prefix) + 1 :]
        for b in listed
        if b.name.endswith(suffix) and is_legacy(b.name[len(prefix) + 1 :])
    ]
    return MonthVersion(bucket, prefix, slice_id, sorted(legacy), None)


def _manifest_or_none(blob) -> tuple[Manifest, int] | None:
    try:
        body = blob.download_as_bytes(retry=None)
    except NotFound:
        return None
    return Manifest.from_json(body), int(blob.generation or 0)


def months(bucket: str, prefix: str) -> list[str]:
    """The months the dataset holds (with a manifest, or written before manifests)."""
    prefix = prefix.strip("/")
    with gcs_scope():
        listed = gcs_call(
            f"listing gs://{bucket}/{prefix}/",
            lambda: list(storage_client().list_blobs(bucket, prefix=f"{prefix}/", retry=None)),
        )
    found = set()
    for blob in listed:
        relative = blob.name[len(prefix) + 1 :]
        if relative.startswith(f"{MANIFESTS}/") and relative.endswith(".json"):
            found.add(relative[len(MANIFESTS) + 1 : -len(".json")])
        elif is_legacy(relative) and relative.endswith(".parquet"):
            found.add(relative.rsplit("/", 1)[1][: -len(".parquet")])
    return sorted(found)


def read_objects(
    bucket: str, prefix: str, slice_id: str, limit: int | None = None
) -> tuple[MonthVersion, list[tuple[str, bytes]]]:
    """The month's current version and the bytes of its objects (the first ``limit``), all
    of ONE version: if an object vanished (a commit switched the month meanwhile), the month
    is read again from its new manifest."""
    client = storage_client()
    with gcs_scope():
        for _ in range(ATTEMPTS):
            version = current(bucket, prefix, slice_id)
            data: list[tuple[str, bytes]] = []
            for relative in version.objects[:limit]:
                blob = client.bucket(bucket).blob(version.name(relative))
                body = gcs_call(f"reading {blob.name}", lambda blob=blob: _bytes_or_none(blob))
                if body is None:
                    break
                data.append((relative, body))
            else:
                return version, data
            if current(bucket, prefix, slice_id).generation == version.generation:
                raise TaxiDataError(
                    f"gs://{bucket}/{version.name(relative)} is listed in month {slice_id}'s manifest but missing; re-run the pipeline that writes gs://{bucket}/{version.prefix}/ for that month."
                )
    raise TaxiDataError(
        f"Month {slice_id} of gs://{bucket}/{prefix.strip('/')}/ changed {ATTEMPTS} times while it was being read; read it again once the runs that write it are done."
    )


def read_month(bucket: str, prefix: str, slice_id: str) -> pa.Table:
    """The month's rows, with its partition column from the Hive path (as a DATE), as ONE
    version of the month."""
    version, data = read_objects(bucket, prefix, slice_id)
    tables = []
    for relative, body in data:
        table = pq.read_table(io.BytesIO(body))
        key, value = partition_of(relative)
        day = pa.array([date.fromisoformat(value)] * table.num_rows, pa.date32())
        tables.append(table.append_column(key, day))
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="default")

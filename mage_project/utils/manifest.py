"""The partitioned datasets' versioned layout and their manifests (pure names and JSON, no I/O).

A month of a partitioned dataset (``nyc_taxi_data_partitioned/``, ``green_taxi/``) is written
under a new version folder inside each of its partitions::

    <prefix>/<date column>=YYYY-MM-DD/v<version>/<YYYY-MM>.parquet

and becomes current when its manifest, ONE object, is written::

    <prefix>/_manifests/<YYYY-MM>.json   {"slice", "rows", "objects": {relative name: [size, md5]}}

One object write is atomic in GCS (a reader gets the old or the new object, never part of one:
https://cloud.google.com/storage/docs/consistency), so a reader that follows the manifest
(``lake.py``) sees the month entirely old or entirely new. The commit copies the new version in,
switches the manifest, then deletes every other object of the month (the superseded version,
and orphans of failed runs). Hive readers (pyarrow, DuckDB) ignore the ``_manifests`` folder
(its name starts with ``_``) and the ``v<version>`` segment (not ``key=value``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MANIFESTS = "_manifests"


def manifest_name(prefix: str, slice_id: str) -> str:
    """The month's manifest object: ``<prefix>/_manifests/<slice>.json``."""
    return f"{prefix.strip('/')}/{MANIFESTS}/{slice_id}.json"


def versioned(relative: str, version: str) -> str:
    """``<date>=D/<slice>.parquet`` → ``<date>=D/v<version>/<slice>.parquet``."""
    folder, _, name = relative.rpartition("/")
    return f"{folder}/v{version}/{name}" if folder else f"v{version}/{name}"


def is_legacy(relative: str) -> bool:
    """An object of the layout before versions (``<date>=D/<slice>.parquet``, no version)."""
    return relative.count("/") == 1


def partition_of(relative: str) -> tuple[str, str]:
    """``tpep_pickup_date=2021-01-05/v…/2021-01.parquet`` → ``("tpep_pickup_date", "2021-01-05")``."""
    key, _, value = relative.split("/", 1)[0].partition("=")
    return key, value


@dataclass(frozen=True)
class Manifest:
    """Which objects (relative to the dataset's prefix) hold the month now."""

    slice: str
    rows: int
    objects: dict[str, list]

    def to_json(self) -> str:
        return json.dumps(
            {"slice": self.slice, "rows": self.rows, "objects": self.objects}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        data = json.loads(text)
        return cls(data["slice"], int(data["rows"]), dict(data["objects"]))

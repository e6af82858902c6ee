"""No reader sees a half-replaced month of a partitioned dataset (issue 21): a reader thread
reads the month in a loop (``lake.read_month``, the reader the project's blocks use) while a
commit replaces its 31 partitions on the twin's GCS emulator; every read is the old month or
the new month, whole.

On the old code the commit copied the new objects over the old names one by one, so a read
between two copies got some days new and some old (checked: this test fails there).
"""

from __future__ import annotations

import hashlib
import threading
import time

import pyarrow.parquet as pq
import pytest
from twin.sample_data import write_month

from mage_project.utils import gcs, ingest, lake
from mage_project.utils.manifest import MANIFESTS
from mage_project.utils.transform import stage_typed

pytestmark = pytest.mark.twin
SLICE = "2021-01"
COPY_PAUSE = 0.03  # seconds added to each copy into place, so reads fall between two copies


def fingerprint(table) -> str:
    """The month's rows, order-free: equal for the same rows, whatever the object order."""
    columns = ("tpep_pickup_datetime", "total_amount", "tpep_pickup_date")
    rows = sorted(zip(*([str(v) for v in table[c].to_pylist()] for c in columns), strict=True))
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def typed_month(tmp_path, seed: int):
    source = write_month(tmp_path / f"src{seed}", "yellow", 2021, 1, rows=600, seed=seed)
    return stage_typed(source, "yellow", SLICE, tmp_path / f"w{seed}" / "typed.parquet")


def test_a_reader_during_a_commit_sees_the_month_entirely_old_or_entirely_new(
    sinks, tmp_path, monkeypatch
):
    old, new = typed_month(tmp_path, 1), typed_month(tmp_path, 2)
    assert len(new.pickup_dates) >= 28, "the month should span (almost) every day"
    ingest.export_gcs_partitioned(old, sinks.prefix)
    old_print = fingerprint(lake.read_month(sinks.bucket, sinks.prefix, SLICE))
    new_table = pq.read_table(new.path)
    assert fingerprint(new_table) != old_print

    copying = threading.Event()
    real_call = gcs.gcs_call

    def slow_copies(what, fn):  # only the commit's copies (the reader does not copy)
        if what.startswith("copying"):
            copying.set()
            time.sleep(COPY_PAUSE)
        return real_call(what, fn)

    monkeypatch.setattr(gcs, "gcs_call", slow_copies)
    reads: list[tuple[float, float, str]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                started = time.monotonic()
                table = lake.read_month(sinks.bucket, sinks.prefix, SLICE)
                reads.append((started, time.monotonic(), fingerprint(table)))
        except BaseException as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        commit_started = time.monotonic()
        ingest.export_gcs_partitioned(new, sinks.prefix)
        commit_ended = time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(r[0] > commit_ended for r in reads):
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    new_print = fingerprint(lake.read_month(sinks.bucket, sinks.prefix, SLICE))
    assert new_print == fingerprint(new_table)
    during = [r for r in reads if r[0] >= commit_started and r[1] <= commit_ended]
    print(
        f"\nREADS: {len(reads)} in all, {len(during)} inside the {commit_ended - commit_started:.1f} s commit"
    )
    assert len(during) >= 3, f"only {len(during)} reads fell inside the commit"
    mixed = [r for r in reads if r[2] not in (old_print, new_print)]
    assert not mixed, f"{len(mixed)} of {len(reads)} reads saw a month that was half old, half new"
    assert reads[-1][2] == new_print
    # the superseded version is gone: one object per partition, all listed in the manifest
    version = lake.current(sinks.bucket, sinks.prefix, SLICE)
    listed = [
        b.name[len(sinks.prefix) + 1 :]
        for b in gcs.list_objects(sinks.bucket, f"{sinks.prefix}/")
        if not b.name.startswith(f"{sinks.prefix}/{MANIFESTS}/")
    ]
    assert sorted(listed) == version.objects
    assert len(version.partitions) == len(new.pickup_dates)

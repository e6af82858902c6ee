"""Class 2: any number of concurrent runs of the same or different slices all end well, and each
sink ends as exactly ONE run's rows of a slice (never a mix, never a crash).

Four processes start at once sharing one staging folder: three runs of 2021-01, each fed a
different file by its own file server (so the winner is identifiable), and one run of 2021-02.
On code with shared staging paths (``<staging>/<colour>/<month>/<file>.part``, ``typed.parquet``,
``partitioned/``) runs truncate, rename and delete each other's files and crash, or export
another run's rows.
"""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from twin.sample_data import write_month

from mage_project.utils.clients import storage_client
from tests.sinks.sinkkit import FaultyFileServer, kept_rows, parquet_rows, pg_snapshot

pytestmark = pytest.mark.twin
CHILD = Path(__file__).with_name("run_child.py")


def per_date(path: Path) -> Counter:
    """Kept rows per pickup date (plain Python), the fingerprint of one run's partitioned objects."""
    with gzip.open(path, "rt", newline="") as handle:
        return Counter(
            r["tpep_pickup_datetime"][:10]
            for r in csv.DictReader(handle)
            if r["passenger_count"] and float(r["passenger_count"]) > 0
        )


def landed_per_date(bucket: str, prefix: str, month: str) -> Counter:
    found = Counter()
    for blob in storage_client().list_blobs(bucket, prefix=prefix + "/"):
        if blob.name.endswith(f"/{month}.parquet"):
            day = blob.name.split("=", 1)[1].split("/", 1)[0]
            found[day] += parquet_rows(bucket, blob.name)
    return found


def test_concurrent_runs_of_the_same_and_different_slices_all_end_well(sinks, tmp_path):
    runs = []  # (month, source file, server)
    for index, rows in enumerate((4000, 4400, 4800)):
        root = tmp_path / f"served{index}"
        runs.append(("1", write_month(root, "yellow", 2021, 1, rows=rows, seed=40 + index), root))
    runs.append(("2", write_month(tmp_path / "servedB", "yellow", 2021, 2, rows=3000, seed=50),
                 tmp_path / "servedB"))  # fmt: skip
    servers = [FaultyFileServer(root).start() for _, _, root in runs]
    go = tmp_path / "go"
    try:
        procs = []
        for (month, _, _), server in zip(runs, servers, strict=True):
            env = {**os.environ, "TAXI_DATA_BASE_URL": server.url}
            single = f"{sinks.prefix}_single/yellow_tripdata_2021-0{month}.parquet"
            command = [sys.executable, str(CHILD), "2021", month, sinks.table, sinks.prefix, single,
                       str(go)]  # fmt: skip
            procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))  # fmt: skip
        while len(list(tmp_path.glob("go.ready-*"))) < len(procs):
            assert all(p.poll() is None for p in procs), "a run died before the start"
            time.sleep(0.02)
        go.touch()
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for server in servers:
            server.stop()
    failed = [out[-600:] for p, out in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert not failed, f"{len(failed)} of {len(procs)} concurrent runs failed: {failed}"

    kept = [kept_rows(path) for _, path, _ in runs]
    assert len(set(kept[:3])) == 3, "the three files must be distinguishable"
    postgres_rows = {m: n for m, (n, _) in pg_snapshot(sinks.table).items()}
    assert postgres_rows["2021-02"] == kept[3]
    assert postgres_rows["2021-01"] in kept[:3], "Postgres holds no single run's rows"
    fingerprints = [per_date(path) for _, path, _ in runs[:3]]
    assert landed_per_date(sinks.bucket, sinks.prefix, "2021-01") in fingerprints, (
        "the partitioned objects of 2021-01 are not exactly one run's"
    )
    assert landed_per_date(sinks.bucket, sinks.prefix, "2021-02") == per_date(runs[3][1])
    single = parquet_rows(sinks.bucket, f"{sinks.prefix}_single/yellow_tripdata_2021-01.parquet")
    assert single in kept[:3]
    leftovers = [p for p in sinks.staging.rglob("*") if p.name.endswith((".part", ".inner"))]
    assert leftovers == [], f"partial files left in staging: {leftovers}"

"""Crash-safety: a load killed with SIGKILL leaves each sink as before; the next run completes.

A child process (crash_child.py) runs the real export code and stops at a chosen point —
mid-COPY, mid-upload, mid-commit — where the test kills it with SIGKILL (issue 4, item 3).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from twin.sample_data import write_month

from mage_project.utils import ingest, lake, postgres
from mage_project.utils.gcs import STAGING_PREFIX
from mage_project.utils.image_contract import REPO_ROOT
from mage_project.utils.slices import MonthSlice
from mage_project.utils.transform import stage_typed
from tests.sinks.sinkkit import (
    data_objects,
    gcs_snapshot,
    kept_rows,
    logical,
    pg_snapshot,
    pg_tables,
    pickup_dates,
)

pytestmark = pytest.mark.twin

A = MonthSlice("yellow", 2021, 1)
B = MonthSlice("yellow", 2021, 2)
CHILD = Path(__file__).with_name("crash_child.py")


def wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_and_kill(args: list[str], marker: Path, extra_check=None) -> None:
    """Start the child, wait until it reports its stop point, optionally check, SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: marker.exists() or child.poll() is not None, what="the child's stop point")
        if child.poll() is not None:
            raise AssertionError(f"child ended early:\n{child.stdout.read().decode()}")
        if extra_check is not None:
            extra_check()
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def typed_file(files_root: Path, tmp: Path, rows: int, seed: int) -> tuple[Path, int]:
    source = write_month(files_root / f"seed{seed}", "yellow", 2021, 1, rows=rows, seed=seed)
    typed = stage_typed(source, "yellow", A.name, tmp / f"typed-{seed}.parquet")
    assert typed.rows_kept == kept_rows(source)
    return Path(typed.path), typed.rows_kept


def copy_progress() -> int:
    """Rows the server has received into an open COPY (any session)."""
    with psycopg.connect(postgres.dsn_from_env()) as conn:
        value = conn.execute(
            "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy"
        ).fetchone()
    return value[0]


def test_kill_mid_copy_leaves_postgres_as_before_and_next_run_completes(sinks, files, tmp_path):
    write_month(files.root, "yellow", 2021, 1, rows=300, seed=1)
    write_month(files.root, "yellow", 2021, 2, rows=200, seed=2)
    for month in (A, B):
        ingest.export_postgres(ingest.transform(ingest.load(month)), sinks.table)
    before, tables = pg_snapshot(sinks.table), pg_tables(sinks.table)

    typed, rows = typed_file(tmp_path, tmp_path, rows=3000, seed=7)
    seen = {}

    def copy_is_running():
        seen["tuples"] = wait_for(copy_progress, what="rows arriving in the COPY")

    run_and_kill(
        ["postgres", sinks.table, str(typed), str(tmp_path / "marker")],
        tmp_path / "marker",
        copy_is_running,
    )
    assert seen["tuples"] > 0  # killed while the server held copied rows

    assert pg_snapshot(sinks.table) == before, "the table changed after a killed load"
    assert pg_tables(sinks.table) == tables, "a killed load left a table behind"

    result = postgres.replace_slice(
        postgres.dsn_from_env(), sinks.table, A.name, ingest.schema_for("yellow").sink_schema,
        ingest.iter_typed(typed),
    )  # fmt: skip
    after = pg_snapshot(sinks.table)
    assert result.rows == rows == after["2021-01"][0]
    assert after["2021-02"] == before["2021-02"]
    assert pg_tables(sinks.table) == tables


def dataset_objects(sinks) -> dict[str, str]:
    return data_objects(gcs_snapshot(sinks.bucket, sinks.prefix + "/"))


def staging_objects(sinks) -> dict[str, str]:
    return gcs_snapshot(sinks.bucket, f"{STAGING_PREFIX}/{sinks.prefix}/")


@pytest.mark.parametrize("stop", ["gcs-upload", "gcs-commit"])
def test_kill_during_gcs_replace_then_next_run_converges(sinks, files, tmp_path, stop):
    write_month(files.root, "yellow", 2021, 1, rows=300, seed=1)
    write_month(files.root, "yellow", 2021, 2, rows=200, seed=2)
    for month in (A, B):
        ingest.export_gcs_partitioned(ingest.transform(ingest.load(month)), sinks.prefix)
    before = dataset_objects(sinks)
    b_objects = {n: h for n, h in before.items() if n.endswith("/2021-02.parquet")}
    old_a = lake.read_month(sinks.bucket, sinks.prefix, A.name)

    new_source = write_month(tmp_path / "new", "yellow", 2021, 1, rows=120, seed=9)
    typed = stage_typed(new_source, "yellow", A.name, tmp_path / "typed.parquet")
    marker = tmp_path / "marker"
    run_and_kill([stop, sinks.prefix, typed.path, str(marker), str(tmp_path / "work")], marker)

    during = dataset_objects(sinks)
    if stop == "gcs-upload":
        assert during == before, "objects changed while the new ones were only being uploaded"
        assert staging_objects(sinks), "the kill did not happen mid-upload"
    else:  # killed in the commit phase: whole objects only, the other month untouched
        assert during != before
        assert {n: h for n, h in during.items() if n.endswith("/2021-02.parquet")} == b_objects
        # killed before the manifest switch: a reader still gets the old month, whole
        assert lake.read_month(sinks.bucket, sinks.prefix, A.name).equals(old_a)
    assert all(n.endswith(".parquet") for n in during)

    result = ingest.export_gcs_partitioned(typed, sinks.prefix)
    after = dataset_objects(sinks)
    expected_a = {
        f"{sinks.prefix}/tpep_pickup_date={d}/2021-01.parquet" for d in pickup_dates(new_source)
    }
    assert result.rows == typed.rows_kept
    a_after = [n for n in after if n.endswith("/2021-01.parquet")]
    assert sorted(map(logical, a_after)) == sorted(expected_a)  # one version, no orphan left
    assert sorted(a_after) == [
        lake.current(sinks.bucket, sinks.prefix, A.name).name(r)
        for r in lake.current(sinks.bucket, sinks.prefix, A.name).objects
    ]
    assert {n: h for n, h in after.items() if n.endswith("/2021-02.parquet")} == b_objects
    assert staging_objects(sinks) == {}, "the next run left _staging objects"

"""Concurrency: two loads of the same slice at once do not interleave (issue 4, item 2).

The first load holds the slice's advisory lock with its COPY open; the second is seen waiting
for exactly that lock in ``pg_locks`` and only proceeds after the first committed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from twin.sample_data import write_month

from mage_project.utils import locks, postgres
from mage_project.utils.schema import schema_for
from mage_project.utils.transform import stage_typed
from mage_project.utils.typed_file import iter_typed
from tests.sinks.sinkkit import kept_rows, pg_snapshot, pg_tables

pytestmark = pytest.mark.twin

SLICE = "2021-01"


def waiting_on_lock(*key_parts: str) -> int:
    """Sessions waiting (not granted) on the advisory lock ``locks.lock_key(*key_parts)``."""
    key = locks.lock_key(*key_parts) & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(postgres.dsn_from_env()) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
            [key >> 32, key & 0xFFFFFFFF],
        ).fetchone()[0]


def waiting_on_slice_lock(table: str) -> int:
    """Sessions waiting on the load lock of ``table``'s slice 2021-01 (replace_slice)."""
    return waiting_on_lock(*postgres.split_table(table), SLICE)


def test_second_load_of_a_slice_waits_for_the_first(sinks, tmp_path):
    typed = {}
    for seed, rows in ((1, 400), (2, 250)):
        source = write_month(tmp_path / str(seed), "yellow", 2021, 1, rows=rows, seed=seed)
        typed[seed] = stage_typed(source, "yellow", SLICE, tmp_path / f"t{seed}.parquet")
        assert typed[seed].rows_kept == kept_rows(source)
    other = write_month(tmp_path / "b", "yellow", 2021, 2, rows=100, seed=3)
    dsn, schema = postgres.dsn_from_env(), schema_for("yellow").sink_schema
    postgres.replace_slice(
        dsn, sinks.table, "2021-02", schema,
        iter_typed(stage_typed(other, "yellow", "2021-02", tmp_path / "b.parquet").path),
    )  # fmt: skip
    b_before = pg_snapshot(sinks.table)["2021-02"]

    copying, release = threading.Event(), threading.Event()
    finished: dict[int, float] = {}

    def held_open(path):
        yield from iter_typed(path, batch_size=100)
        copying.set()
        assert release.wait(30), "the test never released the first load"

    def run(seed, batches):
        result = postgres.replace_slice(dsn, sinks.table, SLICE, schema, batches)
        finished[seed] = time.monotonic()
        return result

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(run, 1, held_open(typed[1].path))
        assert copying.wait(30)
        second = pool.submit(run, 2, iter_typed(typed[2].path))
        waiting = 0
        deadline = time.monotonic() + 20
        while not waiting and time.monotonic() < deadline:
            waiting = waiting_on_slice_lock(sinks.table)
            time.sleep(0.05)
        assert waiting == 1, "the second load did not wait for the slice lock"
        time.sleep(0.5)
        assert not second.done(), "the second load finished while the first held the slice"
        released = time.monotonic()
        release.set()
        results = first.result(30), second.result(30)

    assert [r.rows for r in results] == [typed[1].rows_kept, typed[2].rows_kept]
    assert finished[2] > finished[1] > released
    after = pg_snapshot(sinks.table)
    assert after["2021-01"][0] == typed[2].rows_kept  # one run's rows: the later one, not a mix
    assert after["2021-02"] == b_before
    _, name = postgres.split_table(sinks.table)
    assert pg_tables(sinks.table) == [name, f"{name}__2021_01", f"{name}__2021_02"]


# --- GCS has no transactions, and a BigQuery partition is one run's: replacements of the same
# month take turns on a Postgres lock.


def waiting_on(sink: str, slice_id: str) -> int:
    """Sessions waiting on ``locks.slice_lock(sink, slice_id)``."""
    return waiting_on_lock("slice", sink, slice_id)


def run_second_while_first_holds(monkeypatch, module, name, first_call, second_call, sink, key):
    """Start ``first_call`` and hold it inside ``module.name`` (after the real work, still in
    the lock); start ``second_call``; check it waits on the lock; release; return both results."""
    real = getattr(module, name)
    inside, release = threading.Event(), threading.Event()
    calls = []

    def held(*args, **kwargs):
        calls.append(threading.current_thread().name)
        result = real(*args, **kwargs)
        if len(calls) == 1:
            inside.set()
            assert release.wait(30), "the test never released the first run"
        return result

    monkeypatch.setattr(module, name, held)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(first_call)
        assert inside.wait(60), "the first run never got to its sink"
        second = pool.submit(second_call)
        deadline, waiting = time.monotonic() + 20, 0
        while not waiting and time.monotonic() < deadline:
            waiting = waiting_on(sink, key)
            time.sleep(0.05)
        assert waiting == 1, "the second run did not wait for the first"
        assert len(calls) == 1, "the second run reached the sink while the first held it"
        release.set()
        return first.result(60), second.result(60)


def test_two_gcs_replacements_of_a_month_take_turns(sinks, tmp_path, monkeypatch):
    from mage_project.utils import gcs, ingest
    from tests.sinks.sinkkit import data_objects, gcs_snapshot, parquet_rows

    typed = {}
    for seed, rows in ((1, 400), (2, 250)):
        source = write_month(tmp_path / str(seed), "yellow", 2021, 1, rows=rows, seed=seed)
        typed[seed] = stage_typed(source, "yellow", SLICE, tmp_path / str(seed) / "typed.parquet")
    sink = f"gs://{sinks.bucket}/{sinks.prefix}/"
    first, second = run_second_while_first_holds(
        monkeypatch, gcs, "upload_partitioned",
        lambda: ingest.export_gcs_partitioned(typed[1], sinks.prefix),
        lambda: ingest.export_gcs_partitioned(typed[2], sinks.prefix),
        sink, SLICE,
    )  # fmt: skip
    assert (first.rows, second.rows) == (typed[1].rows_kept, typed[2].rows_kept)
    objects = data_objects(gcs_snapshot(sinks.bucket, f"{sinks.prefix}/"))
    # Exactly the later run's objects: one per pickup date it has, holding all its rows.
    assert {name.split("/")[1] for name in objects} == {
        f"tpep_pickup_date={d}" for d in typed[2].pickup_dates
    }
    assert sum(parquet_rows(sinks.bucket, name) for name in objects) == typed[2].rows_kept
    assert gcs_snapshot(sinks.bucket, f"{gcs.STAGING_PREFIX}/{sinks.prefix}/") == {}


def test_two_bigquery_replacements_of_a_month_take_turns(sinks, tmp_path, monkeypatch):
    """Each month is its own partition, replaced atomically by one load job, so different
    months load at once (tests/sinks/test_bigquery_partitions.py); two runs of the SAME month
    take turns, as for GCS, and the month holds one run's rows, not both."""
    from mage_project.utils import bigquery as bq
    from mage_project.utils import ingest
    from mage_project.utils.slices import MonthSlice

    source = write_month(tmp_path, "yellow", 2021, 1, rows=300, seed=1)
    typed = stage_typed(source, "yellow", SLICE, tmp_path / "t.parquet")
    ingest.export_gcs_partitioned(typed, sinks.prefix)
    sink = f"bigquery:{sinks.dataset}.{sinks.bq_table}"
    month = MonthSlice("yellow", 2021, 1)
    first, second = run_second_while_first_holds(
        monkeypatch, bq, "replace_month_from_gcs",
        lambda: ingest.export_bigquery(month, sinks.prefix, sinks.bq_table),
        lambda: ingest.export_bigquery(month, sinks.prefix, sinks.bq_table),
        sink, SLICE,
    )  # fmt: skip
    assert first.rows == second.rows == typed.rows_kept
    assert bq.slice_counts(sinks.dataset, sinks.bq_table) == {SLICE: typed.rows_kept}

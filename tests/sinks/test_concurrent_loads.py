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
from sample_data import write_month
from sinkkit import kept_rows, pg_snapshot, pg_tables

from mage_project.utils import postgres
from mage_project.utils.schema import schema_for
from mage_project.utils.transform import iter_typed, stage_typed

pytestmark = pytest.mark.twin

SLICE = "2021-01"


def waiting_on_slice_lock(table: str) -> int:
    """Sessions waiting (not granted) on the advisory lock of ``table``'s slice 2021-01."""
    namespace, name = postgres.split_table(table)
    key = postgres.lock_key(namespace, name, SLICE) & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(postgres.dsn_from_env()) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
            [key >> 32, key & 0xFFFFFFFF],
        ).fetchone()[0]


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

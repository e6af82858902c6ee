"""api_to_postgres streams its typed rows into the COPY (no typed parquet): the same rows as the
typed file, and every guarantee of the file path — a data error anywhere in the file, a month the
rule keeps nothing of, or a re-run leave the table as one whole run would (issue 19)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from twin.sample_data import write_month

from mage_project.utils import ingest
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.slices import MonthSlice
from tests.sinks.sinkkit import kept_rows, pg_snapshot, pg_tables, row, write_rows

pytestmark = pytest.mark.twin

A = MonthSlice("yellow", 2021, 1)
ROWS = 30_000  # ~3 MiB of CSV: several parse blocks, so errors and batches span blocks


def _month(root: Path, rows: int = ROWS) -> Path:
    return write_month(root, "yellow", 2021, 1, rows=rows, seed=7)


def _streamed(table: str) -> tuple:
    plan = ingest.transform_for(ingest.load(A), "api_to_postgres")
    return ingest.stream_postgres(plan.to_dict(), table)


def test_streamed_rows_are_the_typed_files_rows(sinks, files):
    path = _month(files.root)
    typed = ingest.transform_for(ingest.load(A), "api_to_gcs")
    assert Path(typed.path).is_file()  # a pipeline with a GCS sink still stages the file
    ingest.export_postgres(typed, sinks.table)
    from_file = pg_snapshot(sinks.table)

    result, counted = _streamed(sinks.table)
    assert pg_snapshot(sinks.table) == from_file  # same rows, byte for byte
    assert result.rows == counted.rows_kept == typed.rows_kept == kept_rows(path)
    assert (counted.rows_read, counted.pickup_dates) == (ROWS, typed.pickup_dates)
    assert counted.path == ""


def test_the_plan_writes_no_typed_file_and_previews_typed_kept_rows(sinks, files):
    write_rows(files.root, A, [row("yellow", passenger_count="0"), row("yellow"), row("yellow")])
    staged = ingest.load(A)
    plan = ingest.transform_for(staged, "api_to_postgres")
    assert ingest.is_plan(plan.to_dict())
    assert not list(Path(staged.work_dir).glob("*.parquet*"))
    head = ingest.typed_head(plan, 10)
    assert head.num_rows == 2 and head.column("passenger_count").to_pylist() == [1, 1]
    assert str(head.schema.field("tpep_pickup_datetime").type) == "timestamp[us]"


def test_a_bad_date_late_in_the_file_fails_the_load_and_changes_nothing(sinks, files):
    _month(files.root)
    _streamed(sinks.table)
    before, tables = pg_snapshot(sinks.table), pg_tables(sinks.table)
    path = _month(files.root)  # the same month, one date that does not exist near its end
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    fields = lines[ROWS - 10].split(",")
    fields[1] = "2021-02-29 10:00:00"
    lines[ROWS - 10] = ",".join(fields)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(TaxiDataError) as caught:
        _streamed(sinks.table)
    assert f"line {ROWS - 9}, column tpep_pickup_datetime" in str(caught.value)
    assert "February 2021 has 28 days" in str(caught.value)
    assert (pg_snapshot(sinks.table), pg_tables(sinks.table)) == (before, tables)


def test_a_month_the_rule_keeps_nothing_of_is_refused_and_changes_nothing(sinks, files):
    _month(files.root)
    _streamed(sinks.table)
    before = pg_snapshot(sinks.table)
    write_rows(files.root, A, [row("yellow", passenger_count="0")] * 3)
    with pytest.raises(TaxiDataError, match="none of its 3 rows passes the yellow rule"):
        _streamed(sinks.table)
    assert pg_snapshot(sinks.table) == before


def test_a_streamed_rerun_replaces_the_month_with_the_same_rows(sinks, files):
    _month(files.root)
    _streamed(sinks.table)
    first = pg_snapshot(sinks.table)
    _streamed(sinks.table)
    assert pg_snapshot(sinks.table) == first and first["2021-01"][0] > 0

"""Class 3: every row the transform keeps lands in every sink of the pipeline, or the run fails
with the sink unchanged; and ONE policy for a slice whose rows are all filtered out.

Postgres, the single object, the partitioned objects and BigQuery must hold the same row count
per slice: each export checks what landed against the transform's ``rows_kept`` (Postgres before
COMMIT, GCS before the commit phase and after it; BigQuery loads the month's warehouse-ready
copy, which is checked before the lake's commit).
"""

from __future__ import annotations

from datetime import date

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twin.sample_data import write_month

from mage_project.utils import gcs, ingest
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.slices import MonthSlice
from mage_project.utils.transform import stage_typed
from tests.hostile.flows import rows_per_sink, single_name, state, yellow_everywhere
from tests.sinks.sinkkit import gcs_snapshot, row, write_rows

pytestmark = pytest.mark.twin
A = MonthSlice("yellow", 2021, 1)


@pytest.fixture
def landed(sinks, files) -> dict:
    write_month(files.root, "yellow", 2021, 1, rows=400, seed=21)
    typed = yellow_everywhere(A, sinks)
    counts = rows_per_sink(sinks, A)
    assert set(counts.values()) == {typed["rows_kept"]}, counts
    return state(sinks)


def refused(sinks, before: dict, fn, *args) -> str:
    with pytest.raises(TaxiDataError) as error:
        fn(*args)
    message = str(error.value)
    print(f"\nMESSAGE: {message}")
    assert "\n" not in message and message.endswith("."), message
    assert state(sinks) == before, "a sink changed"
    return message


pickups = st.one_of(
    st.just(""),
    st.sampled_from(["2021-01-03 08:00:00", "2021-01-17 23:59:59", "2021-02-01 00:00:01"]),
)
counts = st.one_of(st.just(""), st.integers(0, 4).map(str))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(pickups, counts), min_size=1, max_size=30))
def test_kept_rows_all_reach_the_partitioned_files_or_the_file_is_refused(tmp_path, values):
    rows = [row("yellow", pickup or "2021-01-05 10:00:00", passenger_count=c,
                tpep_pickup_datetime=pickup) for pickup, c in values]  # fmt: skip
    source = write_rows(tmp_path / "in", A, rows)
    out = tmp_path / "typed.parquet"
    try:
        typed = stage_typed(source, "yellow", A.name, out)
    except TaxiDataError as error:  # all filtered out, or a kept trip without a pickup time
        assert "passes the yellow rule" in str(error) or "has no tpep_pickup_datetime" in str(error)
        return
    written = gcs.write_partitioned(out, tmp_path / "parts", "tpep_pickup_date", "2021-01.parquet")
    assert sum(written.values()) == typed.rows_kept == pq.read_metadata(out).num_rows


def test_a_kept_trip_without_pickup_time_is_refused_before_any_sink(sinks, files, landed):
    # Postgres would take it, the partitioned objects and BigQuery could not: refused instead
    good = [row("yellow", "2021-01-03 08:00:00") for _ in range(3)]
    write_rows(files.root, A, [*good, row("yellow", tpep_pickup_datetime="")])
    message = refused(sinks, landed, yellow_everywhere, A, sinks)
    assert "line 5" in message and "tpep_pickup_datetime" in message


def test_postgres_that_lands_fewer_rows_fails_and_keeps_the_slice(
    sinks, files, landed, monkeypatch
):
    write_month(files.root, "yellow", 2021, 1, rows=500, seed=22)
    typed = ingest.transform(ingest.load(A))
    real = ingest.iter_typed

    def lossy(path, batch_size=131_072):  # a reader that silently loses the last row
        batches = list(real(path, batch_size=batch_size))
        yield from batches[:-1]
        yield batches[-1].slice(0, batches[-1].num_rows - 1)

    monkeypatch.setattr(ingest, "iter_typed", lossy)
    message = refused(sinks, landed, ingest.export_postgres, typed, sinks.table)
    assert f"but the transform kept {typed.rows_kept:,}" in message


def test_gcs_upload_that_lands_a_different_object_fails_and_keeps_the_slice(
    sinks, files, landed, monkeypatch
):
    write_month(files.root, "yellow", 2021, 1, rows=500, seed=23)
    typed = ingest.transform(ingest.load(A))
    real = gcs._upload

    def truncating(bucket, name, path):  # the first object lands without its last bytes
        if not truncating.done:
            truncating.done = True
            cut = path.with_name(path.name + ".cut")
            cut.write_bytes(path.read_bytes()[:-100])
            return real(bucket, name, cut)
        return real(bucket, name, path)

    truncating.done = False
    monkeypatch.setattr(gcs, "_upload", truncating)
    refused(sinks, landed, ingest.export_gcs_partitioned, typed, sinks.prefix)
    truncating.done = False
    refused(sinks, landed, ingest.export_gcs_single, typed, single_name(sinks, A))


def test_a_warehouse_copy_short_of_rows_fails_and_keeps_every_object(
    sinks, files, landed, monkeypatch
):
    """The month's warehouse-ready copy (the objects BigQuery's load job reads from gs://) must
    hold exactly the rows the transform kept: one that lost a row is refused before anything
    is committed, so the lake, the copy and BigQuery stay as they were."""
    from mage_project.utils import warehouse_objects

    write_month(files.root, "yellow", 2021, 1, rows=500, seed=29)
    typed = ingest.transform(ingest.load(A))
    real = warehouse_objects.iter_typed

    def one_row_short(path, *args, **kwargs):
        batches = list(real(path, *args, **kwargs))
        yield from batches[:-1]
        yield batches[-1].slice(0, batches[-1].num_rows - 1)

    copies = f"{warehouse_objects.month_prefix(sinks.prefix)}/"
    copy_before = gcs_snapshot(sinks.bucket, copies)
    assert copy_before, "the good month's warehouse copy landed"
    monkeypatch.setattr(warehouse_objects, "iter_typed", one_row_short)
    message = refused(sinks, landed, ingest.export_gcs_partitioned, typed, sinks.prefix)
    assert "warehouse-ready copy of month 2021-01" in message
    assert gcs_snapshot(sinks.bucket, copies) == copy_before


# --- the empty-slice policy: refused, with one sentence, every sink unchanged -----------------


def all_filtered(color: str) -> list[dict[str, str]]:
    pickup = "2021-01-03 08:00:00" if color == "yellow" else "2020-10-03 08:00:00"
    return [row(color, pickup, passenger_count="0"), row(color, pickup, passenger_count="")]


def test_all_filtered_out_month_is_refused_in_every_yellow_sink(sinks, files, landed):
    write_rows(files.root, A, all_filtered("yellow"))
    message = refused(sinks, landed, yellow_everywhere, A, sinks)
    assert "none of its 2 rows passes the yellow rule" in message


def test_all_filtered_out_month_is_refused_by_green_taxi_etl(sinks, files):
    month = MonthSlice("green", 2020, 10)
    write_rows(files.root, month, [row("green", "2020-10-03 08:00:00") for _ in range(3)])

    def green_run() -> None:  # what green_taxi_etl's blocks do for one month
        typed = ingest.transform(ingest.load(month))
        ingest.export_postgres(typed, sinks.table)
        ingest.export_gcs_partitioned(typed, sinks.prefix)

    green_run()
    before = {"gcs": gcs_snapshot(sinks.bucket, sinks.prefix + "/")}
    assert before["gcs"], "the good month landed"
    write_rows(files.root, month, all_filtered("green"))
    with pytest.raises(TaxiDataError, match="passes the green rule"):
        green_run()
    assert gcs_snapshot(sinks.bucket, sinks.prefix + "/") == before["gcs"], "objects were deleted"


def test_a_day_without_kept_trips_is_refused_by_the_parameterized_pipeline(sinks, files):
    write_rows(files.root, A, [row("yellow", "2021-01-03 08:00:00")])
    staged = ingest.load(A)
    with pytest.raises(TaxiDataError, match="picked up on 2021-01-04 passes the yellow rule"):
        ingest.transform(staged, day=date(2021, 1, 4))

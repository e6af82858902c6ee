"""The typed, filtered staging step on small files (no servers)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.header import check_header, read_header
from mage_project.utils.schema import schema_for
from mage_project.utils.transform import stage_typed
from tests.taxi_rows import SHARED_DATA, row


def stage(path: Path, color: str = "yellow", **kw):
    return stage_typed(path, color, "2021-01", path.with_suffix(".parquet"), **kw)


def test_types_filter_lineage_and_renames(write_csv):
    rows = [
        row("yellow", passenger_count="2"),
        row("yellow", passenger_count="0"),
        row("yellow", passenger_count=""),
    ]
    typed = stage(write_csv("yellow", rows))
    table = pq.read_table(typed.path)
    assert (typed.rows_read, typed.rows_kept) == (3, 1)
    assert table.column("passenger_count").to_pylist() == [2]
    assert table.column("source_month").to_pylist() == ["2021-01"]
    assert str(table.schema.field("tpep_pickup_datetime").type) == "timestamp[us]"
    assert "vendor_id" in table.schema.names and "VendorID" not in table.schema.names
    assert typed.pickup_dates == ["2021-01-05"]


def test_green_rule_needs_positive_distance_and_keeps_out_of_month_pickups(write_csv):
    rows = [
        row("green", trip_distance="0"),
        row("green", lpep_pickup_datetime="2009-01-01 00:05:00"),
        row("green", trip_distance="1.2"),
    ]
    typed = stage(write_csv("green", rows, name="green_tripdata_2020-10.csv.gz"), color="green")
    assert typed.rows_kept == 2
    assert typed.pickup_dates == ["2009-01-01", "2021-01-05"]


def test_day_filter_keeps_only_that_date(write_csv):
    from datetime import date

    rows = [row("yellow"), row("yellow", tpep_pickup_datetime="2021-01-06 01:00:00")]
    typed = stage(write_csv("yellow", rows), day=date(2021, 1, 6))
    assert typed.rows_kept == 1 and typed.pickup_dates == ["2021-01-06"]


def test_integer_columns_accept_whole_floats_like_pandas(write_csv):
    typed = stage(write_csv("yellow", [row("yellow", passenger_count="1.0", VendorID="2.0")]))
    assert pq.read_table(typed.path).column("vendor_id").to_pylist() == [2]


def test_extra_unknown_column_is_dropped(write_csv):
    header = [*schema_for("yellow").columns, "airport_fee"]
    path = write_csv("yellow", [row("yellow", airport_fee="1.25")], header=header)
    assert check_header(read_header(path, path.name), "yellow", path.name) == ["airport_fee"]
    assert "airport_fee" not in pq.read_table(stage(path).path).schema.names


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("fare_amount", "abc", "line 3, column fare_amount: 'abc' is not a number"),
        ("passenger_count", "two", "line 3, column passenger_count: 'two' is not a number"),
        ("passenger_count", "1.5", "line 3, column passenger_count: '1.5' is not a whole number"),
        ("tpep_pickup_datetime", "2021-13-45 99:00:00", "line 3, column tpep_pickup_datetime"),
    ],
)
def test_bad_value_names_file_line_and_column(write_csv, field, value, fragment):
    path = write_csv("yellow", [row("yellow"), row("yellow", **{field: value})])
    with pytest.raises(TaxiDataError) as error:
        stage(path)
    assert str(error.value).startswith("yellow_tripdata_2021-01.csv.gz, ")
    assert fragment in str(error.value)
    assert not path.with_suffix(".parquet").exists(), "no partial output may be left"


def test_missing_column_is_rejected_by_name(write_csv):
    header = [c for c in row("yellow") if c != "passenger_count"]
    path = write_csv("yellow", [row("yellow")], header=header)
    with pytest.raises(TaxiDataError, match="missing the required column passenger_count"):
        check_header(read_header(path, path.name), "yellow", path.name)


def test_truncated_gzip(tmp_path, write_csv):
    full = write_csv("yellow", [row("yellow")] * 20000).read_bytes()
    path = tmp_path / "yellow_tripdata_2021-02.csv.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(
        TaxiDataError, match="yellow_tripdata_2021-02.csv.gz is a truncated or corrupt gzip"
    ):
        stage(path)
    assert not path.with_suffix(".parquet").exists()


def test_empty_and_header_only_files(tmp_path, write_csv):
    empty = tmp_path / "yellow_tripdata_2021-03.csv.gz"
    empty.write_bytes(b"")
    with pytest.raises(TaxiDataError, match="is empty"):
        read_header(empty, empty.name)
    blank = tmp_path / "yellow_tripdata_2021-04.csv.gz"
    blank.write_bytes(gzip.compress(b""))
    with pytest.raises(TaxiDataError, match="has no header line"):
        read_header(blank, blank.name)
    with pytest.raises(TaxiDataError, match="has a header but no rows"):
        stage(write_csv("yellow", []))


counts = st.one_of(st.just(""), st.integers(0, 6).map(str))
distances = st.one_of(st.just(""), st.sampled_from(["0", "0.0", "0.5", "3.25", "-1"]))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(counts, distances), min_size=1, max_size=40))
def test_green_rule_matches_a_plain_python_count(write_csv, values):
    rows = [row("green", passenger_count=p, trip_distance=d) for p, d in values]
    expected = sum(1 for p, d in values if p and int(p) > 0 and d and float(d) > 0)
    path = write_csv("green", rows, name="green_tripdata_2020-10.csv.gz")
    if expected == 0:  # the empty-slice policy: refused (docs/run-guarantees.md)
        with pytest.raises(TaxiDataError, match="passes the green rule"):
            stage(path, color="green")
        return
    typed = stage(path, color="green")
    assert typed.rows_read == len(values)
    assert typed.rows_kept == expected == pq.read_metadata(typed.path).num_rows


SAMPLE = SHARED_DATA / "yellow_tripdata_2021-01_head.csv.gz"


@pytest.mark.skipif(not SAMPLE.exists(), reason="the real sample ../shared/data is absent")
def test_real_yellow_sample(tmp_path):
    columns = read_header(SAMPLE, SAMPLE.name)
    assert check_header(columns, "yellow", SAMPLE.name) == []
    with gzip.open(SAMPLE, "rt") as handle:
        lines = handle.read().splitlines()[1:]
    index = columns.index("passenger_count")
    zeros = sum(1 for line in lines if line.split(",")[index] == "0")
    empty = sum(1 for line in lines if line.split(",")[index] == "")
    typed = stage_typed(SAMPLE, "yellow", "2021-01", tmp_path / "typed.parquet")
    assert zeros == 489
    assert typed.rows_read == len(lines) == 22792
    assert typed.rows_kept == len(lines) - zeros - empty
    assert "2020-12-31" in typed.pickup_dates  # pickups outside the month are kept

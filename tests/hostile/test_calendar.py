"""Class 8: dates that do not exist. A 29 February in a year that is not a leap year, a
30 February, a 31 April or a 23:59:60 is refused with its line and column in every pipeline
(the one parser, ``transform.stage_typed``), never rolled into the next day or month.

On the old code pyarrow's ``%Y-%m-%d %H:%M:%S`` parser accepted them: 2021-02-29 10:00 landed
as 2021-03-01 10:00 and the run succeeded.
"""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.schema import schema_for
from mage_project.utils.slices import MonthSlice
from mage_project.utils.transform import not_on_calendar, stage_typed
from tests.sinks.sinkkit import row, write_rows

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
IMPOSSIBLE = ["2021-02-29 10:00:00", "2019-02-29 00:00:00", "2021-02-30 08:15:00",
              "2021-04-31 12:00:00", "2021-06-31 23:00:00", "2021-01-01 23:59:60",
              "2100-02-29 01:00:00"]  # fmt: skip
REAL = ["2020-02-29 10:00:00", "2000-02-29 00:00:00", "2021-04-30 23:59:59", "2021-01-31 00:00:00"]


def stage_rows(tmp_path, color: str, rows: list[dict[str, str]], blank: set[int] = frozenset()):
    month = MonthSlice(color, 2021, 2)
    path = write_rows(tmp_path / "served", month, rows)
    if blank:  # blank lines before some rows: line numbers count them
        lines = gzip.decompress(path.read_bytes()).split(b"\n")
        for at in sorted(blank, reverse=True):
            lines.insert(1 + at, b"")
        path.write_bytes(gzip.compress(b"\n".join(lines)))
    return stage_typed(path, color, month.name, tmp_path / "typed.parquet")


@FAST
@given(color=st.sampled_from(["yellow", "green"]), at=st.integers(0, 5),
       which=st.sampled_from(["pickup", "dropoff"]), value=st.sampled_from(IMPOSSIBLE),
       blank=st.sets(st.integers(0, 5), max_size=2))  # fmt: skip
def test_a_date_that_does_not_exist_is_refused_with_its_line_and_column(
    tmp_path, color, at, which, value, blank
):
    prefix = "tpep" if color == "yellow" else "lpep"
    rows = [row(color, f"2021-02-0{d + 1} 08:00:00") for d in range(6)]
    column = f"{prefix}_{which}_datetime"
    rows[at][column] = value
    line = 2 + at + sum(1 for b in blank if b <= at)
    with pytest.raises(TaxiDataError) as error:
        stage_rows(tmp_path, color, rows, blank)
    text = str(error.value)
    assert "\n" not in text and text.endswith("."), text
    assert f", line {line}, column {column}: {value!r} is not a moment that exists" in text, text
    assert not_on_calendar(value) in text
    assert not (tmp_path / "typed.parquet").exists()


@pytest.mark.parametrize("value", REAL)
def test_real_dates_near_the_edges_load_unchanged(tmp_path, value):
    import pyarrow.parquet as pq

    typed = stage_rows(tmp_path, "yellow", [row("yellow", value)])
    pickups = pq.read_table(typed.path)["tpep_pickup_datetime"].to_pylist()
    assert [p.strftime("%Y-%m-%d %H:%M:%S") for p in pickups] == [value]
    assert typed.pickup_dates == [value[:10]]


def test_the_calendar_reason_names_the_month_and_its_days():
    assert not_on_calendar("2021-02-29 10:00:00") == "February 2021 has 28 days"
    assert not_on_calendar("2021-04-31 00:00:00") == "April 2021 has 30 days"
    assert not_on_calendar("2021-01-01 23:59:60") == "23:59:60 is not a time of day"
    assert not_on_calendar("2020-02-29 10:00:00") is None
    assert set(schema_for("green").columns) >= {"lpep_pickup_datetime", "lpep_dropoff_datetime"}

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.slices import (
    MonthSlice,
    day_from_kwargs,
    green_months_from_kwargs,
    month_slice_from_kwargs,
    parse_months,
)


def test_defaults_are_the_course_months():
    assert month_slice_from_kwargs({}) == MonthSlice("yellow", 2021, 1)
    assert [m.name for m in green_months_from_kwargs({})] == ["2020-10", "2020-11", "2020-12"]
    assert day_from_kwargs({}) == date(2021, 1, 1)


def test_explicit_variables_win_over_execution_date():
    kwargs = {"year": "2020", "month": "3", "execution_date": datetime(2021, 7, 4)}
    assert month_slice_from_kwargs(kwargs).name == "2020-03"
    assert month_slice_from_kwargs({"execution_date": datetime(2021, 7, 4)}).name == "2021-07"
    assert green_months_from_kwargs({"execution_date": "2020-11-01T00:00:00"})[0].name == "2020-11"
    assert day_from_kwargs({"execution_date": "2021-01-15"}) == date(2021, 1, 15)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"month": 13}, "month=13 is not a month"),
        ({"color": "purple"}, "color='purple' is not a taxi colour"),
        ({"year": 1999, "month": 1}, "year=1999 is out of range"),
        ({"month": "x"}, "month='x' is not a whole number"),
        ({"execution_date": "yesterday"}, "execution_date='yesterday' is not a date"),
    ],
)
def test_invalid_runtime_variables_are_one_clear_sentence(kwargs, fragment):
    with pytest.raises(TaxiDataError) as error:
        day_from_kwargs(kwargs) if "execution_date" in kwargs else month_slice_from_kwargs(kwargs)
    assert fragment in str(error.value)
    sentence = str(error.value)
    assert "\n" not in sentence and sentence.endswith(".")
    assert sentence.replace("e.g.", "eg").count(". ") == 0


@pytest.mark.parametrize("text", ["", "2020-13", "2020/10", "oct"])
def test_bad_months_list_is_rejected(text):
    with pytest.raises(TaxiDataError, match="month"):
        parse_months(text)


@given(st.lists(st.tuples(st.integers(2009, 2030), st.integers(1, 12)), min_size=1, max_size=8))
def test_months_list_round_trips_sorted_and_unique(pairs):
    text = ",".join(f"{y}-{m:02d}" for y, m in pairs)
    months = parse_months(text)
    assert [(m.year, m.month) for m in months] == sorted(set(pairs))
    assert all(m.url("http://x").endswith(f"/green/green_tripdata_{m.name}.csv.gz") for m in months)

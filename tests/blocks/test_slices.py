from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mage_project.utils import slices
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


# -- who runs the block decides what chooses the slice (issue 20) ---------------------------------

NOW = datetime(2026, 12, 6, 0, 30)  # a month no release has: the notebook's clock must not choose
NOTEBOOK = {  # what Mage's notebook adds to a pipeline's global variables (websocket_server.py)
    "env": "dev",
    "execution_date": NOW,
    "interval_end_datetime": NOW,
    "interval_seconds": None,
    "interval_start_datetime": NOW,
    "interval_start_datetime_previous": None,
    "event": {},
}


def scheduled(globals_: dict, execution_date: datetime) -> dict:
    """What Mage passes to a block of a pipeline run (PipelineRun.get_variables)."""
    return {**globals_, "env": "prod", "execution_date": execution_date, "pipeline_run_id": 7}


def lookup(variables: dict, dated: bool):
    return lambda run_id: slices.MageRun(variables, dated) if run_id == 7 else None


def loaders(kwargs: dict, run=None) -> tuple[str, str, str]:
    """The slice of each kind of loader for these kwargs, with Mage's DB answering ``run``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(slices, "find_mage_run", run or (lambda run_id: None))
        patch.setattr(slices.chosen_variables, "__defaults__", (slices.find_mage_run,))
        month = month_slice_from_kwargs(only(kwargs, "months")).name
        green = green_months_from_kwargs({**only(kwargs, "year", "month"), "color": "green"})
        day = day_from_kwargs(only(kwargs, "year", "month", "months")).isoformat()
    return month, ",".join(m.name for m in green), day


def only(kwargs: dict, *foreign: str) -> dict:
    """``kwargs`` without another pipeline's variables (each pipeline refuses those)."""
    return {k: v for k, v in kwargs.items() if k not in foreign}


def test_the_notebook_runs_the_default_slice_not_the_clock():
    assert loaders({"color": "yellow", "year": "", "month": "", **NOTEBOOK}) == (
        "2021-01", "2020-10,2020-11,2020-12", "2021-01-01",
    )  # fmt: skip


def test_the_notebook_runs_the_slice_set_in_the_variables_panel():
    chosen = {"year": "2020", "month": "3", "months": "2020-11", "execution_date": "2021-01-09"}
    assert loaders({**NOTEBOOK, **chosen}) == ("2020-03", "2020-11", "2021-01-09")


def test_run_once_runs_the_default_slice():
    """Run@once copies the global variables into its trigger; its execution date is now."""
    run = lookup({"color": "yellow", "year": "", "month": "", "months": ""}, dated=False)
    assert loaders(scheduled({"year": "", "month": ""}, NOW), run) == (
        "2021-01", "2020-10,2020-11,2020-12", "2021-01-01",
    )  # fmt: skip


def test_a_notebook_override_never_leaks_into_a_trigger_or_backfill_run():
    override = {"year": "2021", "month": "1", "months": "2020-10", "execution_date": "2021-01-09"}
    run_date = datetime(2020, 11, 17, 5, 0)
    for own in ({}, {"execution_date": run_date.isoformat(), "ds": "2020-11-17"}):
        assert loaders(scheduled(override, run_date), lookup(own, dated=True)) == (
            "2020-11", "2020-11", "2020-11-17",
        ), own  # fmt: skip


def test_a_triggers_own_variables_choose_its_slice():
    own = {
        "year": "2020",
        "month": "12",
        "months": "2020-10,2020-12",
        "execution_date": "2021-01-03",
    }
    assert loaders(scheduled({}, datetime(2026, 1, 1)), lookup(own, dated=True)) == (
        "2020-12", "2020-10,2020-12", "2021-01-03",
    )  # fmt: skip


def test_a_run_mage_has_no_record_of_uses_its_variables():
    """``mage run`` without a pipeline run, or no Mage DB: the kwargs are the run's own."""
    kwargs = {"execution_date": datetime(2020, 11, 2), "pipeline_run_id": 8}
    assert loaders(kwargs) == ("2020-11", "2020-11", "2020-11-02")

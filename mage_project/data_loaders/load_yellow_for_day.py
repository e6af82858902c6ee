"""Load: the yellow month containing the run's day (runtime variable execution_date, or the
one Mage's trigger/backfill sets; default 2021-01-01), staged and header-checked."""

from mage_project.utils.ingest import load
from mage_project.utils.preview import csv_head, show
from mage_project.utils.slices import MonthSlice, day_from_kwargs

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_yellow_for_day(*args, **kwargs) -> tuple:
    day = day_from_kwargs(kwargs)
    staged = load(MonthSlice(str(kwargs.get("color") or "yellow"), day.year, day.month)).to_dict()
    name = staged["source"].rsplit("/", 1)[-1]
    head = show(csv_head(staged["path"]), None, f"of {name} (the month holding {day})")
    return {**staged, "day": day.isoformat()}, head


@test
def test_output(output, *args) -> None:
    assert output["bytes"] > 0 and output["day"].startswith(output["slice"]), (
        "staged file does not hold the day"
    )

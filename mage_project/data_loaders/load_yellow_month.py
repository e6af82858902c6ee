"""Load: download the yellow month's .csv.gz (streamed to a staged file) and check its header.

Runtime variables: color (yellow), year, month — default 2021-01; in a trigger or backfill run
without them, the month of execution_date. See mage_project/utils/slices.py.
"""

from mage_project.utils.ingest import load
from mage_project.utils.preview import csv_head, show
from mage_project.utils.slices import month_slice_from_kwargs

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_yellow_month(*args, **kwargs) -> tuple:
    """The staged file (path, source URL, slice, bytes, header columns) and its first rows."""
    staged = load(month_slice_from_kwargs(kwargs)).to_dict()
    name = staged["source"].rsplit("/", 1)[-1]
    return staged, show(csv_head(staged["path"]), None, f"of {name}, as downloaded")


@test
def test_output(output, *args) -> None:  # args: the preview
    assert output["bytes"] > 0, "the staged file is empty"
    assert not set(["VendorID", "passenger_count"]) - set(output["columns"]), (
        "required columns missing"
    )

"""Load: the green months of this run (runtime variable months, e.g. "2020-10,2020-11,2020-12",
the default; in a trigger/backfill run without it, the month of execution_date), each
downloaded to a staged file and header-checked. All months are validated before any write."""

import pandas as pd

from mage_project.utils.ingest import load
from mage_project.utils.preview import PREVIEW_ROWS, csv_head, show
from mage_project.utils.slices import green_months_from_kwargs

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_green_months(*args, **kwargs) -> tuple:
    months = [load(month).to_dict() for month in green_months_from_kwargs(kwargs)]
    each = max(1, PREVIEW_ROWS // len(months))
    head = pd.concat([csv_head(m["path"], each) for m in months], ignore_index=True)
    names = ", ".join(m["source"].rsplit("/", 1)[-1] for m in months)
    return {"months": months}, show(head, None, f"of each of {names}, as downloaded")


@test
def test_output(output, *args) -> None:
    assert output["months"], "no month loaded"
    assert all(staged["bytes"] > 0 for staged in output["months"]), "a staged file is empty"

"""Transform: the same typing and passenger_count > 0 rule as api_to_postgres, keeping only
trips picked up on the run's day."""

from datetime import date

import pyarrow.compute as pc
import pyarrow.parquet as pq

from mage_project.utils.ingest import transform
from mage_project.utils.preview import handed, parquet_head, show

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def transform_yellow_day(staged: list, *args, **kwargs) -> tuple:
    staged = dict(handed(staged))
    day = date.fromisoformat(staged.pop("day"))
    typed = transform(staged, day=day).to_dict()
    head = show(parquet_head(typed["path"]), typed["rows_kept"], f"picked up on {day}, typed")
    return {**typed, "day": day.isoformat()}, head


@test
def test_output(output, *args) -> None:
    dates = pq.read_table(output["path"], columns=["tpep_pickup_date"])["tpep_pickup_date"]
    assert len(dates) == output["rows_kept"], "row count mismatch"
    assert len(dates) == 0 or pc.unique(dates).to_pylist() == [date.fromisoformat(output["day"])], (
        "other days kept"
    )

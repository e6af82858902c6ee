"""Transform: the same typing and passenger_count > 0 rule as api_to_postgres, keeping only
trips picked up on the run's day."""

from datetime import date

import pyarrow.compute as pc
import pyarrow.parquet as pq

from mage_project.utils.ingest import transform

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def transform_yellow_day(staged: dict, *args, **kwargs) -> dict:
    day = date.fromisoformat(staged.pop("day"))
    return {**transform(staged, day=day).to_dict(), "day": day.isoformat()}


@test
def test_output(output, *args) -> None:
    dates = pq.read_table(output["path"], columns=["tpep_pickup_date"])["tpep_pickup_date"]
    assert len(dates) == output["rows_kept"], "row count mismatch"
    assert len(dates) == 0 or pc.unique(dates).to_pylist() == [date.fromisoformat(output["day"])], (
        "other days kept"
    )

"""Transform: course dtypes (nullable Int64 ids/counts, floats, timestamps), drop
passenger_count 0 and empty (the course's ``data[data['passenger_count'] > 0]``), snake_case
names, + tpep_pickup_date and source_month. Streams to a typed parquet staging file."""

import pyarrow.compute as pc
import pyarrow.parquet as pq

from mage_project.utils.ingest import transform
from mage_project.utils.preview import handed, parquet_head, show

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def transform_yellow_month(staged: list, *args, **kwargs) -> tuple:
    """The typed file (path, rows read and kept, columns, pickup dates) and its first rows."""
    typed = transform(handed(staged)).to_dict()
    print(
        f"rows kept: {typed['rows_kept']:,} of {typed['rows_read']:,} (passenger_count > 0); "
        f"{len(typed['pickup_dates'])} pickup dates"
        + (
            f"; unknown columns dropped: {', '.join(typed['dropped_columns'])}"
            if typed["dropped_columns"]
            else ""
        )
    )
    return typed, show(parquet_head(typed["path"]), typed["rows_kept"], "kept, typed")


@test
def test_output(output, *args) -> None:
    counts = pq.read_table(output["path"], columns=["passenger_count", "tpep_pickup_datetime"])
    assert counts.num_rows == output["rows_kept"] > 0, "no rows kept"
    assert pc.min(counts["passenger_count"]).as_py() > 0, "passenger_count 0 left in the data"
    assert counts["passenger_count"].null_count == 0, "empty passenger_count left in the data"
    assert str(counts.schema.field("tpep_pickup_datetime").type) == "timestamp[us]"

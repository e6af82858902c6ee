"""Transform: course dtypes (nullable Int64 ids/counts, floats, timestamps), drop
passenger_count 0 and empty (the course's ``data[data['passenger_count'] > 0]``), snake_case
names, + tpep_pickup_date and source_month. Streams to a typed parquet staging file; in
api_to_postgres, whose only sink is Postgres, no file: the export types the rows as they stream
into the COPY (utils/ingest.py, STREAMED_PIPELINES) and this block checks and previews them."""

import pyarrow.compute as pc
import pyarrow.parquet as pq

from mage_project.utils.ingest import is_plan, transform_for, typed_head
from mage_project.utils.preview import PREVIEW_ROWS, frame, handed, parquet_head, show

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def transform_yellow_month(staged: list, *args, **kwargs) -> tuple:
    """The typed file (path, rows read and kept, columns, pickup dates) or, streamed, the plan;
    and the first typed rows."""
    typed = transform_for(handed(staged), kwargs.get("pipeline_uuid")).to_dict()
    if is_plan(typed):
        print("typed and filtered (passenger_count > 0) as the rows stream into Postgres")
        return typed, show(frame(typed_head(typed, PREVIEW_ROWS)), None, "kept, typed")
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
def test_output(output, *args) -> None:  # args: the preview
    if is_plan(output):
        head = args[0]
        assert len(head) > 0, "no rows kept"
        assert (head["passenger_count"] > 0).all(), "passenger_count 0 left in the data"
        assert str(head["tpep_pickup_datetime"].dtype).startswith("datetime64")
        return
    counts = pq.read_table(output["path"], columns=["passenger_count", "tpep_pickup_datetime"])
    assert counts.num_rows == output["rows_kept"] > 0, "no rows kept"
    assert pc.min(counts["passenger_count"]).as_py() > 0, "passenger_count 0 left in the data"
    assert counts["passenger_count"].null_count == 0, "empty passenger_count left in the data"
    assert str(counts.schema.field("tpep_pickup_datetime").type) == "timestamp[us]"

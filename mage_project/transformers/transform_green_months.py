"""Transform (homework): keep passenger_count > 0 and trip_distance > 0, add lpep_pickup_date,
rename CamelCase columns to snake_case — VendorID→vendor_id, RatecodeID→ratecode_id,
PULocationID→pu_location_id, DOLocationID→do_location_id (the other 16 are already
snake_case). Pickups outside the month are kept (they belong to the file they came from)."""

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.ingest import transform
from mage_project.utils.preview import PREVIEW_ROWS, handed, parquet_head, show
from mage_project.utils.schema import TLC_VENDOR_IDS

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def transform_green_months(loaded: list, *args, **kwargs) -> tuple:
    typed = [transform(staged).to_dict() for staged in handed(loaded)["months"]]
    dates = sorted({d for t in typed for d in t["pickup_dates"]})
    print(
        f"rows kept: {sum(t['rows_kept'] for t in typed):,} of {sum(t['rows_read'] for t in typed):,}; "
        f"{len(dates)} lpep_pickup_date values; renamed: {typed[0]['renamed']}"
    )
    for t in typed:
        if t["dropped_columns"]:
            print(f"{t['source_name']}: unknown columns dropped: {', '.join(t['dropped_columns'])}")
    each = max(1, PREVIEW_ROWS // len(typed))
    head = pd.concat([parquet_head(t["path"], each) for t in typed], ignore_index=True)
    kept = sum(t["rows_kept"] for t in typed)
    return {"months": typed}, show(head, kept, "kept, typed and renamed (from each month)")


@test
def test_vendor_id_is_a_tlc_vendor(output, *args) -> None:
    for typed in output["months"]:
        vendors = pq.read_table(typed["path"], columns=["vendor_id"])["vendor_id"]
        values = set(pc.unique(vendors).to_pylist())
        if not values <= TLC_VENDOR_IDS:  # our sentence ends the run, not Mage's test wrapper
            odd = sorted(values - TLC_VENDOR_IDS, key=str)
            raise TaxiDataError(
                f"{typed['source_name']}: vendor_id values {odd} are not TLC vendors ({', '.join(map(str, sorted(TLC_VENDOR_IDS)))}), so the month is refused and every sink keeps it as it was; check that the file is TLC's original, or add the new vendor code to TLC_VENDOR_IDS in mage_project/utils/schema.py."
            )


@test
def test_passenger_count_and_distance_positive(output, *args) -> None:
    for typed in output["months"]:
        table = pq.read_table(typed["path"], columns=["passenger_count", "trip_distance"])
        if table.num_rows:
            assert pc.min(table["passenger_count"]).as_py() > 0, "passenger_count must be > 0"
            assert pc.min(table["trip_distance"]).as_py() > 0, "trip_distance must be > 0"

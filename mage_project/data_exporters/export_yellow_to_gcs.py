"""Export (staged): the month as one parquet object, gs://$GCS_BUCKET/nyc_taxi_data/yellow_tripdata_<YYYY-MM>.parquet,
uploaded to this run's _staging/ folder and checked; commit_slice puts it in place once every
exporter staged (mage_project/utils/commit.py)."""

from mage_project.utils.ingest import YELLOW_OBJECT_PREFIX, stage_gcs_single
from mage_project.utils.preview import handed, head_of, readable, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_yellow_to_gcs(typed: list, *args, **kwargs) -> tuple:
    name = f"{YELLOW_OBJECT_PREFIX}/yellow_tripdata_{handed(typed)['slice']}.parquet"
    staged = stage_gcs_single(handed(typed), name)
    rows = staged[0]["rows"]
    print(readable(f"gs://{staged[0]['bucket']}/{name}: {rows:,} rows staged"))
    return {"staged": staged}, show(head_of(typed), rows, f"staged for {name}")

"""Export: the month as one parquet object, gs://$GCS_BUCKET/nyc_taxi_data/yellow_tripdata_<YYYY-MM>.parquet."""

from mage_project.utils.ingest import YELLOW_OBJECT_PREFIX, export_gcs_single
from mage_project.utils.preview import handed, head_of, readable, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_yellow_to_gcs(typed: list, *args, **kwargs) -> tuple:
    name = f"{YELLOW_OBJECT_PREFIX}/yellow_tripdata_{handed(typed)['slice']}.parquet"
    result = export_gcs_single(handed(typed), name)
    print(readable(f"{result.sink}: {result.rows:,} rows"))
    return result.to_dict(), show(head_of(typed), result.rows, f"written to {name}")

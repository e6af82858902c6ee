"""Export: the month partitioned by pickup date,
gs://$GCS_BUCKET/nyc_taxi_data_partitioned/tpep_pickup_date=YYYY-MM-DD/<YYYY-MM>.parquet.
Each partition holds one object per source month, so a re-run replaces exactly its own."""

from mage_project.utils.ingest import YELLOW_PARTITIONED_PREFIX, export_gcs_partitioned

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_yellow_partitioned_to_gcs(typed: dict, *args, **kwargs) -> dict:
    result = export_gcs_partitioned(typed, YELLOW_PARTITIONED_PREFIX)
    print(
        f"{result.sink}: month {result.slice}, {result.rows:,} rows in {len(typed['pickup_dates'])} partitions"
    )
    return result.to_dict()

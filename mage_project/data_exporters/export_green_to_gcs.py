"""Export: gs://$GCS_BUCKET/green_taxi/lpep_pickup_date=YYYY-MM-DD/<YYYY-MM>.parquet, each
month replacing exactly its own objects."""

from mage_project.utils.ingest import GREEN_PARTITIONED_PREFIX, export_gcs_partitioned

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_green_to_gcs(transformed: dict, *args, **kwargs) -> dict:
    results = [
        export_gcs_partitioned(typed, GREEN_PARTITIONED_PREFIX).to_dict()
        for typed in transformed["months"]
    ]
    dates = {d for typed in transformed["months"] for d in typed["pickup_dates"]}
    print(f"gs://.../{GREEN_PARTITIONED_PREFIX}/: {len(dates)} lpep_pickup_date partitions")
    return {"loads": results}

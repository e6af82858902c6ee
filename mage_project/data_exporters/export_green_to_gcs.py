"""Export: gs://$GCS_BUCKET/green_taxi/lpep_pickup_date=YYYY-MM-DD/<YYYY-MM>.parquet, each
month replacing exactly its own objects."""

from mage_project.utils.ingest import GREEN_PARTITIONED_PREFIX, export_gcs_partitioned
from mage_project.utils.preview import handed, head_of, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_green_to_gcs(transformed: list, *args, **kwargs) -> tuple:
    months = handed(transformed)["months"]
    results = [
        export_gcs_partitioned(typed, GREEN_PARTITIONED_PREFIX).to_dict() for typed in months
    ]
    dates = {d for typed in months for d in typed["pickup_dates"]}
    print(f"gs://$GCS_BUCKET/{GREEN_PARTITIONED_PREFIX}/: {len(dates)} lpep_pickup_date partitions")
    rows = sum(r["rows"] for r in results)
    what = f"written under {GREEN_PARTITIONED_PREFIX}/lpep_pickup_date=.../"
    return {"loads": results}, show(head_of(transformed), rows, what)

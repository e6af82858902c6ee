"""Export: gs://$GCS_BUCKET/green_taxi/lpep_pickup_date=YYYY-MM-DD/<YYYY-MM>.parquet, each
month replacing exactly its own objects. Staged here (this run's _staging/ folder, checked);
commit_slice commits once every exporter staged (mage_project/utils/commit.py)."""

from mage_project.utils.ingest import GREEN_PARTITIONED_PREFIX, stage_gcs_partitioned
from mage_project.utils.preview import handed, head_of, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_green_to_gcs(transformed: list, *args, **kwargs) -> tuple:
    months = handed(transformed)["months"]
    staged = [e for typed in months for e in stage_gcs_partitioned(typed, GREEN_PARTITIONED_PREFIX)]
    dates = {d for typed in months for d in typed["pickup_dates"]}
    print(f"gs://$GCS_BUCKET/{GREEN_PARTITIONED_PREFIX}/: {len(dates)} lpep_pickup_date partitions")
    rows = sum(e["rows"] for e in staged)
    what = f"staged for {GREEN_PARTITIONED_PREFIX}/lpep_pickup_date=.../"
    return {"staged": staged}, show(head_of(transformed), rows, what)

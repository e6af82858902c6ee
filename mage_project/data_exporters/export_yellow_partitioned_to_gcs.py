"""Export: the month partitioned by pickup date,
gs://$GCS_BUCKET/nyc_taxi_data_partitioned/tpep_pickup_date=YYYY-MM-DD/<YYYY-MM>.parquet.
Each partition holds one object per source month, so a re-run replaces exactly its own.
Staged here (this run's _staging/ folder, checked); commit_slice commits once every exporter
staged (mage_project/utils/commit.py)."""

from mage_project.utils.ingest import YELLOW_PARTITIONED_PREFIX, stage_gcs_partitioned
from mage_project.utils.preview import handed, head_of, readable, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_yellow_partitioned_to_gcs(typed: list, *args, **kwargs) -> tuple:
    staged = stage_gcs_partitioned(handed(typed), YELLOW_PARTITIONED_PREFIX)
    partitions = len(handed(typed)["pickup_dates"])
    rows, month = staged[0]["rows"], staged[0]["slice"]
    print(
        readable(
            f"gs://{staged[0]['bucket']}/{YELLOW_PARTITIONED_PREFIX}/: month {month}, {rows:,} rows in {partitions} partitions staged"
        )
    )
    what = f"staged for {YELLOW_PARTITIONED_PREFIX}/tpep_pickup_date=.../"
    return {"staged": staged}, show(head_of(typed), rows, what)

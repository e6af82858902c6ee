"""Export: the month partitioned by pickup date,
gs://$GCS_BUCKET/nyc_taxi_data_partitioned/tpep_pickup_date=YYYY-MM-DD/<YYYY-MM>.parquet.
Each partition holds one object per source month, so a re-run replaces exactly its own."""

from mage_project.utils.ingest import YELLOW_PARTITIONED_PREFIX, export_gcs_partitioned
from mage_project.utils.preview import handed, head_of, readable, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_yellow_partitioned_to_gcs(typed: list, *args, **kwargs) -> tuple:
    result = export_gcs_partitioned(handed(typed), YELLOW_PARTITIONED_PREFIX)
    partitions = len(handed(typed)["pickup_dates"])
    print(
        readable(
            f"{result.sink}: month {result.slice}, {result.rows:,} rows in {partitions} partitions"
        )
    )
    what = f"written under {YELLOW_PARTITIONED_PREFIX}/tpep_pickup_date=.../"
    return result.to_dict(), show(head_of(typed), result.rows, what)

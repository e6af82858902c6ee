"""Export: that day's trips as gs://$GCS_BUCKET/YYYY/MM/DD/daily-trips.parquet (one object per
execution date; a re-run overwrites it atomically)."""

from datetime import date

from mage_project.utils.ingest import daily_object_name, export_gcs_single
from mage_project.utils.preview import handed, head_of, readable, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_daily_trips_to_gcs(typed: list, *args, **kwargs) -> tuple:
    described = dict(handed(typed))
    day = date.fromisoformat(described.pop("day"))
    result = export_gcs_single(described, daily_object_name(day), slice_id=day.isoformat())
    print(readable(f"{result.sink}: {result.rows:,} trips on {day}"))
    return result.to_dict(), show(
        head_of(typed), result.rows, f"written to {daily_object_name(day)}"
    )

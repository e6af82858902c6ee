"""Export: replace this month (source_month) in Postgres ny_taxi.yellow_cab_data by COPY in one
transaction under an advisory lock; other months are untouched. See utils/postgres.py. Handed a
plan (api_to_postgres), it types and filters the rows as they stream into the COPY."""

from mage_project.utils.ingest import YELLOW_TABLE, export_postgres, is_plan, stream_postgres
from mage_project.utils.preview import handed, head_of, readable, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_yellow_to_postgres(typed: list, *args, **kwargs) -> tuple:
    if is_plan(handed(typed)):
        result, counted = stream_postgres(handed(typed), YELLOW_TABLE)
        print(
            f"rows kept: {counted.rows_kept:,} of {counted.rows_read:,} (passenger_count > 0); "
            f"{len(counted.pickup_dates)} pickup dates"
        )
    else:
        result = export_postgres(handed(typed), YELLOW_TABLE)
    print(
        readable(
            f"{YELLOW_TABLE}: month {result.slice} replaced with {result.rows:,} rows in {result.seconds:.1f} s"
        )
    )
    return result.to_dict(), show(head_of(typed), result.rows, f"written to {YELLOW_TABLE}")

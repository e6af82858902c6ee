"""Export: ONE BigQuery load job replaces this month's partition of ny_taxi.yellow_cab_data
(WRITE_TRUNCATE on ``yellow_cab_data$YYYYMM``): atomic, not billed, no other month touched,
no query, no staging table. The table belongs to the stack (or the twin), never to this block."""

from mage_project.utils.ingest import export_bigquery
from mage_project.utils.preview import handed, head_of, readable, show
from mage_project.utils.slices import MonthSlice

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_partitions_to_bigquery(planned: list, *args, **kwargs) -> tuple:
    plan = handed(planned)
    result = export_bigquery(MonthSlice.from_dict(plan), plan["prefix"])
    print(
        readable(
            f"{result.sink}: partition {plan['destination']} replaced with {result.rows:,} rows from {plan['uri']}"
        )
    )
    return result.to_dict(), show(
        head_of(planned), result.rows, f"loaded into {plan['destination']}"
    )

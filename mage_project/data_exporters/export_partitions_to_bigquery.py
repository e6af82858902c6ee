"""Export: a BigQuery load job from the gs:// URIs into a staging table, then one statement
replaces this month in ny_taxi.yellow_cab_data. No data passes through the client."""

from mage_project.utils.ingest import export_bigquery
from mage_project.utils.slices import MonthSlice

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_partitions_to_bigquery(plan: dict, *args, **kwargs) -> dict:
    result = export_bigquery(MonthSlice(plan["color"], plan["year"], plan["month"]), plan["prefix"])
    print(
        f"{result.sink}: month {result.slice} replaced with {result.rows:,} rows from {plan['uri']}"
    )
    return result.to_dict()

"""Export: each month replaces its own rows (source_month) in Postgres mage.green_taxi."""

from mage_project.utils.ingest import GREEN_TABLE, export_postgres
from mage_project.utils.preview import handed, head_of, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_green_to_postgres(transformed: list, *args, **kwargs) -> tuple:
    months = handed(transformed)["months"]
    results = [export_postgres(typed, GREEN_TABLE).to_dict() for typed in months]
    for r in results:
        print(f"{GREEN_TABLE}: month {r['slice']} replaced with {r['rows']:,} rows")
    rows = sum(r["rows"] for r in results)
    return {"loads": results}, show(head_of(transformed), rows, f"written to {GREEN_TABLE}")

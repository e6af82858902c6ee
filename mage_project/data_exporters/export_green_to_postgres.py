"""Export (staged): each month will replace its own rows (source_month) in Postgres
mage.green_taxi; the load is one transaction per month, run by commit_slice once every exporter
staged (mage_project/utils/commit.py), so a failed GCS staging leaves Postgres unchanged."""

from mage_project.utils.ingest import GREEN_TABLE, stage_postgres
from mage_project.utils.preview import handed, head_of, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_green_to_postgres(transformed: list, *args, **kwargs) -> tuple:
    months = handed(transformed)["months"]
    staged = [e for typed in months for e in stage_postgres(typed, GREEN_TABLE)]
    for e in staged:
        print(f"{GREEN_TABLE}: month {e['slice']} ({e['typed']['rows_kept']:,} rows) staged")
    rows = sum(e["typed"]["rows_kept"] for e in staged)
    return {"staged": staged}, show(head_of(transformed), rows, f"staged for {GREEN_TABLE}")

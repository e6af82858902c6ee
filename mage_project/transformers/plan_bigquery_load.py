"""Transform: the BigQuery load plan — the month's partition of the stack's table
(``yellow_cab_data$YYYYMM``, WRITE_TRUNCATE) and its schema (timestamps TIMESTAMP, lower
snake_case names, tpep_pickup_date DATE, source_month_start the partition), read by BigQuery from
the month's warehouse-ready objects (utils/warehouse_objects.py)."""

from mage_project.utils.preview import handed, head_of, show
from mage_project.utils.schema import YELLOW_WAREHOUSE
from mage_project.utils.slices import MonthSlice
from mage_project.utils.warehouse_objects import source_uris

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def plan_bigquery_load(listed: list, *args, **kwargs) -> tuple:
    spec = YELLOW_WAREHOUSE
    listing = handed(listed)
    month = MonthSlice.from_dict(listing)
    plan = {
        **listing,
        "uri": source_uris(listing["bucket"], listing["prefix"], month.name)[0],
        "destination": f"{spec.table_id}${spec.partition_id(month.year, month.month)}",
        "schema": dict(spec.columns),
    }
    return plan, show(head_of(listed), None, f"that the load job reads into {plan['destination']}")


@test
def test_output(output, *args) -> None:
    assert output["schema"]["tpep_pickup_datetime"] == "TIMESTAMP", (
        "timestamps must load as TIMESTAMP, not INT64"
    )
    assert all(name == name.lower() for name in output["schema"]), (
        "column names must be lower snake_case"
    )

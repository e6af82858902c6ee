"""Transform: the BigQuery load plan — the month's gs:// URI pattern and the explicit schema
(timestamps TIMESTAMP, lower snake_case names, tpep_pickup_date DATE from the Hive path)."""

from mage_project.utils.bigquery import bq_schema
from mage_project.utils.schema import schema_for

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def plan_bigquery_load(listing: dict, *args, **kwargs) -> dict:
    schema = schema_for(listing["color"])
    fields = bq_schema(schema.sink_schema, schema.pickup_date_column)
    return {
        **listing,
        "uri": f"gs://{listing['bucket']}/{listing['prefix']}/*/{listing['slice']}.parquet",
        "schema": {f.name: f.field_type for f in fields},
    }


@test
def test_output(output, *args) -> None:
    assert output["schema"]["tpep_pickup_datetime"] == "TIMESTAMP", (
        "timestamps must load as TIMESTAMP, not INT64"
    )
    assert all(name == name.lower() for name in output["schema"]), (
        "column names must be lower snake_case"
    )

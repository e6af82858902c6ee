import re

from hypothesis import given
from hypothesis import strategies as st

from mage_project.utils.schema import GREEN_COLUMNS, YELLOW_COLUMNS, schema_for, to_snake_case

EXPECTED = {
    "VendorID": "vendor_id",
    "RatecodeID": "ratecode_id",
    "PULocationID": "pu_location_id",
    "DOLocationID": "do_location_id",
}


def test_exactly_four_columns_are_renamed_for_both_colours():
    assert schema_for("green").renames == EXPECTED
    assert schema_for("yellow").renames == EXPECTED


def test_sink_columns_are_lower_snake_case_with_lineage():
    for color, columns in (("yellow", YELLOW_COLUMNS), ("green", GREEN_COLUMNS)):
        names = schema_for(color).sink_schema.names
        assert len(names) == len(columns) + 2
        assert names[-1] == "source_month" and names[-2].endswith("_pickup_date")
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)


def test_course_types():
    schema = schema_for("yellow").sink_schema
    assert str(schema.field("passenger_count").type) == "int64"
    assert str(schema.field("tpep_pickup_datetime").type) == "timestamp[us]"
    assert str(schema.field("fare_amount").type) == "double"


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,20}", fullmatch=True))
def test_snake_case_is_idempotent_and_lower(name):
    once = to_snake_case(name)
    assert once == once.lower()
    assert to_snake_case(once) == once
    assert once.replace("_", "") == name.lower()

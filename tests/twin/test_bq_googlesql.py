"""The GoogleSQL forms Mage's BigQuery class sends, rewritten for bqemulator (bq_launcher)."""

from __future__ import annotations

import pytest
from twin.bq_launcher import googlesql_compat

SUMMARY = (
    "(SELECT table_catalog AS project_id, table_schema AS dataset_id, table_name AS table_id, "
    "creation_time, CASE table_type WHEN 'BASE TABLE' THEN 1 WHEN 'VIEW' THEN 2 ELSE 3 END AS "
    "type FROM `{scope}.INFORMATION_SCHEMA.TABLES`)"
)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT 1 FROM `my-proj.ny_taxi.__TABLES_SUMMARY__` WHERE table_id = 't'",
            f"SELECT 1 FROM {SUMMARY.format(scope='my-proj.ny_taxi')} WHERE table_id = 't'",
        ),
        ("SELECT * FROM ny_taxi.__TABLES_SUMMARY__", f"SELECT * FROM {SUMMARY.format(scope='ny_taxi')}"),
        ("SELECT * FROM mage-gcp-local.ny_taxi.t", "SELECT * FROM `mage-gcp-local.ny_taxi.t`"),
        ("select a from x join my-p.d.t on 1", "select a from x join `my-p.d.t` on 1"),
    ],
)  # fmt: skip
def test_rewritten(sql, expected):
    assert googlesql_compat(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM `mage-gcp-local.ny_taxi.t`",  # already quoted
        "SELECT * FROM ny_taxi.t WHERE a - b > 1",  # no dashed path
        "SELECT x - y FROM t",
    ],
)
def test_left_alone(sql):
    assert googlesql_compat(sql) == sql

"""Idempotent by slice: re-running a month replaces exactly that month in each sink.

Each test loads two months (A, B), re-runs A with different rows and checks that A now holds
exactly the new rows and B is byte-for-byte what it was (issue 4, item 2).
"""

from __future__ import annotations

import csv
import gzip

import pytest
from twin.sample_data import write_month

from mage_project.utils import bigquery as bq
from mage_project.utils import ingest, postgres
from mage_project.utils.gcs import STAGING_PREFIX
from mage_project.utils.slices import MonthSlice
from tests.sinks.sinkkit import (
    data_objects,
    gcs_snapshot,
    kept_rows,
    logical,
    parquet_rows,
    pg_snapshot,
    pg_tables,
    pickup_dates,
    row,
    write_rows,
)

pytestmark = pytest.mark.twin

A = MonthSlice("yellow", 2021, 1)
B = MonthSlice("yellow", 2021, 2)


def to_postgres(month: MonthSlice, table: str):
    return ingest.export_postgres(ingest.transform(ingest.load(month)), table)


def to_gcs(month: MonthSlice, prefix: str):
    return ingest.export_gcs_partitioned(ingest.transform(ingest.load(month)), prefix)


def file_trips(path) -> list[tuple[str, float]]:
    """(pickup, total_amount) of the rows the yellow rule keeps, sorted — straight from the CSV."""
    with gzip.open(path, "rt", newline="") as handle:
        return sorted(
            (r["tpep_pickup_datetime"], float(r["total_amount"]))
            for r in csv.DictReader(handle)
            if r["passenger_count"] and float(r["passenger_count"]) > 0
        )


def table_trips(table: str, month: str) -> list[tuple[str, float]]:
    namespace, name = postgres.split_table(table)
    with postgres.connect(postgres.dsn_from_env()) as conn:
        rows = conn.execute(
            f'SELECT to_char(tpep_pickup_datetime, \'YYYY-MM-DD HH24:MI:SS\'), total_amount FROM "{namespace}"."{name}" '
            "WHERE source_month = %s",
            [month],
        ).fetchall()
    return sorted(rows)


def test_postgres_rerun_replaces_exactly_its_month(sinks, files):
    first_a = kept_rows(write_month(files.root, "yellow", 2021, 1, rows=400, seed=1))
    file_b = kept_rows(write_month(files.root, "yellow", 2021, 2, rows=300, seed=2))
    assert to_postgres(A, sinks.table).rows == first_a
    assert to_postgres(B, sinks.table).rows == file_b
    before = pg_snapshot(sinks.table)
    assert {m: n for m, (n, _) in before.items()} == {"2021-01": first_a, "2021-02": file_b}

    second_a = write_month(files.root, "yellow", 2021, 1, rows=150, seed=3)
    result = to_postgres(A, sinks.table)

    after = pg_snapshot(sinks.table)
    assert result.rows == after["2021-01"][0] == kept_rows(second_a) != first_a
    assert table_trips(sinks.table, "2021-01") == file_trips(second_a)  # exactly the new rows
    assert after["2021-02"] == before["2021-02"]  # B byte-for-byte untouched
    _, name = postgres.split_table(sinks.table)
    assert pg_tables(sinks.table) == [name, f"{name}__2021_01", f"{name}__2021_02"]  # no leftovers

    to_postgres(A, sinks.table)  # the same input again: the same table
    assert pg_snapshot(sinks.table) == after


def test_gcs_partitioned_rerun_with_fewer_dates_leaves_nothing_stale(sinks, files):
    first_a = write_month(files.root, "yellow", 2021, 1, rows=400, seed=1)
    file_b = write_month(files.root, "yellow", 2021, 2, rows=300, seed=2)
    to_gcs(A, sinks.prefix)
    to_gcs(B, sinks.prefix)
    before = data_objects(gcs_snapshot(sinks.bucket, sinks.prefix + "/"))
    column = "tpep_pickup_date"
    a_names = {f"{sinks.prefix}/{column}={d}/2021-01.parquet" for d in pickup_dates(first_a)}
    b_names = {f"{sinks.prefix}/{column}={d}/2021-02.parquet" for d in pickup_dates(file_b)}
    assert sorted(map(logical, before)) == sorted(a_names | b_names)  # one version of each
    assert len(a_names) >= 20  # a whole month of dates …
    shared = {n.rsplit("/", 1)[0] for n in a_names} & {n.rsplit("/", 1)[0] for n in b_names}
    assert shared, "both months have out-of-month pickups on the same dates (shared folders)"

    # … re-run with rows on two dates only, one of them a folder B also writes to.
    shared_day = sorted(shared)[0].split("=", 1)[1]
    rows = [row("yellow", "2021-01-03 08:00:00")] * 3 + [row("yellow", f"{shared_day} 23:59:00")]
    write_rows(files.root, A, rows)
    assert to_gcs(A, sinks.prefix).rows == 4

    after = data_objects(gcs_snapshot(sinks.bucket, sinks.prefix + "/"))
    actual = {logical(name): name for name in after}
    new_a = {
        f"{sinks.prefix}/{column}=2021-01-03/2021-01.parquet": 3,
        f"{sinks.prefix}/{column}={shared_day}/2021-01.parquet": 1,
    }
    assert sorted(map(logical, after)) == sorted(set(new_a) | b_names), "stale objects left"
    assert {name: parquet_rows(sinks.bucket, actual[name]) for name in new_a} == new_a
    assert {n: h for n, h in after.items() if logical(n) in b_names} == {
        n: h for n, h in before.items() if logical(n) in b_names
    }, "the other month's objects changed"
    assert gcs_snapshot(sinks.bucket, f"{STAGING_PREFIX}/{sinks.prefix}/") == {}


def test_bigquery_rerun_replaces_the_month_only(sinks, files):
    first_a = kept_rows(write_month(files.root, "yellow", 2021, 1, rows=200, seed=1))
    file_b = kept_rows(write_month(files.root, "yellow", 2021, 2, rows=150, seed=2))
    for month in (A, B):
        to_gcs(month, sinks.prefix)
        ingest.export_bigquery(month, sinks.prefix, sinks.bq_table)
    assert bq.slice_counts(sinks.dataset, sinks.bq_table) == {"2021-01": first_a, "2021-02": file_b}
    b_before = bq_month_digest(sinks, "2021-02")

    second_a = write_month(files.root, "yellow", 2021, 1, rows=90, seed=3)
    to_gcs(A, sinks.prefix)
    result = ingest.export_bigquery(A, sinks.prefix, sinks.bq_table)

    assert result.rows == kept_rows(second_a)
    assert bq.slice_counts(sinks.dataset, sinks.bq_table) == {
        "2021-01": kept_rows(second_a),
        "2021-02": file_b,
    }
    assert bq_month_digest(sinks, "2021-02") == b_before
    assert bq_month_digest(sinks, "2021-01")[1] == pytest.approx(
        sum(total for _, total in file_trips(second_a))
    )


def bq_month_digest(sinks, month: str) -> tuple[int, float, str, str]:
    """(rows, sum of total_amount, first and last pickup) of one month in BigQuery."""
    from mage_project.utils.clients import bigquery_client, project_id

    table = f"{project_id()}.{sinks.dataset}.{sinks.bq_table}"
    result = (
        bigquery_client()
        .query(
            f"SELECT COUNT(*) AS n, SUM(total_amount) AS s, CAST(MIN(tpep_pickup_datetime) AS STRING) AS lo, "
            f"CAST(MAX(tpep_pickup_datetime) AS STRING) AS hi FROM `{table}` WHERE source_month = '{month}'"
        )
        .result()
    )
    (only,) = list(result)
    return only["n"], round(only["s"], 6), only["lo"], only["hi"]

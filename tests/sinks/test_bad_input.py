"""Bad input, clear errors, nothing lost (issue 4, item 4).

Every test first lands a good month A in all three sinks (Postgres, GCS partitioned parquet,
BigQuery), then runs the whole data path (``ingest`` load → transform → exports) on a broken
input or with a sink down, and checks the one-sentence message and that every sink is exactly
as before. The parsing rules themselves are unit-tested in tests/blocks/test_transform.py.
"""

from __future__ import annotations

import functools
import logging
import os
import time

import psycopg
import pytest
from twin.ports import free_port
from twin.sample_data import write_month

from mage_project.utils import bigquery as bq
from mage_project.utils import download, ingest, postgres, transform
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.gcs import STAGING_PREFIX
from mage_project.utils.slices import MonthSlice, green_months_from_kwargs, month_slice_from_kwargs
from tests.sinks.sinkkit import data_objects, gcs_snapshot, kept_rows, pg_snapshot, row, write_rows

pytestmark = pytest.mark.twin

A = MonthSlice("yellow", 2021, 1)
GOOD = [row("yellow", "2021-01-03 08:00:00", passenger_count=str(n)) for n in (1, 2, 3)] + [
    row("yellow", "2021-01-20 18:30:00", total_amount="42.5")
]


def run_month(month: MonthSlice, sinks) -> dict:
    """The api_to_postgres + api_to_gcs + gcs_to_bigquery data path for one month."""
    typed = ingest.transform(ingest.load(month))
    ingest.export_postgres(typed, sinks.table)
    ingest.export_gcs_partitioned(typed, sinks.prefix)
    ingest.export_bigquery(month, sinks.prefix, sinks.bq_table)
    return typed.to_dict()


def state(sinks) -> dict:
    """Everything a run could change: Postgres rows, GCS objects (+ staging), BigQuery rows."""
    return {
        "postgres": pg_snapshot(sinks.table),
        "gcs": gcs_snapshot(sinks.bucket, sinks.prefix + "/"),
        "gcs_staging": gcs_snapshot(sinks.bucket, f"{STAGING_PREFIX}/{sinks.prefix}/"),
        "bigquery": bq.slice_counts(sinks.dataset, sinks.bq_table),
    }


@pytest.fixture
def loaded(sinks, files) -> dict:
    """Month A (4 rows, 2 pickup dates) landed in every sink; returns the sinks' state."""
    write_rows(files.root, A, GOOD)
    run_month(A, sinks)
    before = state(sinks)
    assert before["postgres"]["2021-01"][0] == 4 and before["bigquery"] == {"2021-01": 4}
    assert len(data_objects(before["gcs"])) == 2 and before["gcs_staging"] == {}
    return before


def fails(sinks, month: MonthSlice = A) -> str:
    """Run the month, expect one TaxiDataError; return its sentence (and print it for the docs)."""
    with pytest.raises(TaxiDataError) as error:
        run_month(month, sinks)
    message = str(error.value)
    print(f"\nMESSAGE: {message}")
    assert "\n" not in message and message.endswith("."), message
    return message


def no_partial_files(sinks) -> None:
    leftovers = [p for p in sinks.staging.rglob("*") if p.name.endswith(".part")]
    assert leftovers == [], f"partial files left in staging: {leftovers}"


def closed_port() -> int:
    return free_port()  # reserved: no other worker of the session listens on it either


# --- the file ---------------------------------------------------------------------------------


def test_month_not_published_is_one_404_sentence(sinks, files, loaded):
    (files.root / "yellow" / A.file_name).unlink()
    files.requests.clear()
    message = fails(sinks)
    assert message == (
        f"{files.url}/yellow/yellow_tripdata_2021-01.csv.gz was not found (HTTP 404): that month is "
        "not published; check the colour, year and month, or TAXI_DATA_BASE_URL."
    )
    assert len(files.requests) == 1, "a 404 is final, not retried"
    assert state(sinks) == loaded
    no_partial_files(sinks)


def test_dropped_connection_is_retried_with_backoff_then_succeeds(
    sinks, files, loaded, monkeypatch
):
    monkeypatch.setenv("TAXI_RETRY_ATTEMPTS", "4")
    monkeypatch.setenv("TAXI_RETRY_BACKOFF_SECONDS", "0.2")
    path = write_month(files.root, "yellow", 2021, 1, rows=400, seed=5)
    assert path.stat().st_size > 4000
    files.cut_after, files.cuts_left = 1500, 2
    files.requests.clear()

    typed = run_month(A, sinks)

    assert len(files.requests) == 3  # two dropped connections, then the rest of the file
    gaps = [b.at - a.at for a, b in zip(files.requests, files.requests[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, f"no exponential back-off: {gaps}"
    assert typed["rows_kept"] == kept_rows(path) == state(sinks)["postgres"]["2021-01"][0]
    assert state(sinks)["bigquery"] == {"2021-01": kept_rows(path)}
    no_partial_files(sinks)


def test_dropped_download_resumes_with_a_range_request(sinks, files):
    payload = os.urandom(3 << 20)  # 3 MiB: the 1st 1 MiB chunk lands before the drop
    (files.root / "blob.bin").write_bytes(payload)
    files.cut_after, files.cuts_left = (3 << 19), 1  # 1.5 MiB
    dest = sinks.staging / "blob.bin"
    dest.parent.mkdir(parents=True, exist_ok=True)
    download._download(f"{files.url}/blob.bin", dest)
    # resumes after the last byte received (raw reads keep the partial chunk too)
    assert [r.range for r in files.requests] == [None, f"bytes={3 << 19}-"]
    assert dest.read_bytes() == payload
    assert not dest.with_name("blob.bin.part").exists()


def test_connection_that_keeps_dropping_is_one_clear_error(sinks, files, loaded):
    write_month(files.root, "yellow", 2021, 1, rows=400, seed=5)
    files.cut_after, files.cuts_left = 1500, -1
    files.requests.clear()
    message = fails(sinks)
    assert message.startswith(
        f"Downloading {files.url}/yellow/yellow_tripdata_2021-01.csv.gz failed after 3 attempts ("
    )
    assert message.endswith("check the network or the file server and re-run.")
    assert len(files.requests) == 3  # TAXI_RETRY_ATTEMPTS
    assert state(sinks) == loaded
    no_partial_files(sinks)


def test_truncated_gzip(sinks, files, loaded):
    whole = write_month(files.root, "yellow", 2021, 1, rows=2000, seed=5).read_bytes()
    (files.root / "yellow" / A.file_name).write_bytes(whole[: len(whole) // 2])
    message = fails(sinks)
    assert message.startswith(
        "yellow_tripdata_2021-01.csv.gz is a truncated or corrupt gzip file ("
    )
    assert message.endswith("download it again and re-run.")
    assert state(sinks) == loaded
    no_partial_files(sinks)


def test_empty_file(sinks, files, loaded):
    (files.root / "yellow" / A.file_name).write_bytes(b"")
    assert fails(sinks) == (
        "yellow_tripdata_2021-01.csv.gz is empty (0 bytes); the download or the source file is "
        "broken, re-publish it and re-run."
    )
    assert state(sinks) == loaded


def test_header_missing_a_required_column(sinks, files, loaded):
    header = [c for c in GOOD[0] if c != "passenger_count"]
    write_rows(files.root, A, GOOD, header=header)
    message = fails(sinks)
    assert message.startswith(
        "yellow_tripdata_2021-01.csv.gz is missing the required column passenger_count of the 18 a "
        "yellow file has (mage_project/utils/schema.py); replace it with the original file and re-run."
    )
    assert state(sinks) == loaded


def test_extra_unknown_column_is_dropped_and_reported(sinks, files, loaded, caplog):
    header = [*GOOD[0], "airport_fee"]
    rows = [{**r, "airport_fee": "1.25"} for r in GOOD[:2]]
    write_rows(files.root, A, rows, header=header)
    staged = ingest.load(A)
    with caplog.at_level(logging.WARNING, logger="mage_project.utils.transform"):
        typed = run_month(A, sinks)
    assert staged.extra_columns == ["airport_fee"]
    assert typed["dropped_columns"] == ["airport_fee"]
    warning = (
        "yellow_tripdata_2021-01.csv.gz: unknown column airport_fee dropped (not part of the yellow "
        "schema, not loaded into any sink)."
    )
    assert warning in caplog.messages
    print(f"\nWARNING: {warning}")
    after = state(sinks)
    assert after["postgres"]["2021-01"][0] == 2 and after["bigquery"] == {"2021-01": 2}
    namespace, name = postgres.split_table(sinks.table)
    with psycopg.connect(postgres.dsn_from_env()) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                [namespace, name],
            )
        }
    assert "airport_fee" not in columns and "passenger_count" in columns


def test_non_numeric_value_names_file_line_and_column(sinks, files, loaded, monkeypatch):
    monkeypatch.setattr(transform, "BLOCK_SIZE", 16 << 10)  # the bad row is in a later batch
    rows = [row("yellow", f"2021-01-{1 + i % 28:02d} 10:00:00") for i in range(1500)]
    rows[1200] = {**rows[1200], "fare_amount": "abc"}
    write_rows(files.root, A, rows)
    assert fails(sinks) == (
        "yellow_tripdata_2021-01.csv.gz, line 1202, column fare_amount: 'abc' is not a number; "
        "fix or remove that row and re-run."
    )
    assert state(sinks) == loaded
    no_partial_files(sinks)


def test_unparseable_timestamp_names_file_line_and_column(sinks, files, loaded):
    rows = [*GOOD, row("yellow", "2021-01-32 25:61:00")]
    write_rows(files.root, A, rows)
    assert fails(sinks) == (
        "yellow_tripdata_2021-01.csv.gz, line 6, column tpep_pickup_datetime: '2021-01-32 25:61:00' "
        "is not a moment that exists (January 2021 has 31 days), so it is refused rather than "
        "moved to another date; fix or remove that row and re-run."
    )
    assert state(sinks) == loaded
    rows = [*GOOD, row("yellow", "2021-01-05 10:00:00", tpep_dropoff_datetime="yesterday")]
    write_rows(files.root, A, rows)
    assert fails(sinks) == (
        "yellow_tripdata_2021-01.csv.gz, line 6, column tpep_dropoff_datetime: 'yesterday' "
        "is not a timestamp (YYYY-MM-DD HH:MM:SS); fix or remove that row and re-run."
    )


def test_pickups_outside_the_month_are_kept_in_the_files_slice(sinks, files, loaded):
    assert "Pickups outside the source month are KEPT" in " ".join(transform.__doc__.split())
    outside = ["2008-12-31 23:10:00", "2020-12-31 23:59:00", "2021-02-01 00:05:00"]
    write_rows(files.root, A, [*GOOD, *(row("yellow", p) for p in outside)])
    typed = run_month(A, sinks)
    after = state(sinks)
    assert typed["rows_kept"] == 7
    assert after["postgres"]["2021-01"][0] == 7 and after["bigquery"] == {"2021-01": 7}
    objects = data_objects(after["gcs"])
    dates = {name.split("=")[1].split("/")[0] for name in objects}
    assert dates == {"2008-12-31", "2020-12-31", "2021-01-03", "2021-01-20", "2021-02-01"}
    assert all(name.endswith("/2021-01.parquet") for name in objects)


# --- runtime variables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"month": 13}, "Runtime variable month=13 is not a month; use a number from 1 to 12."),
        (
            {"color": "purple", "month": 1},
            "Runtime variable color='purple' is not a taxi colour; use one of yellow, green.",
        ),
        (
            {"execution_date": "yesterday"},
            "Runtime variable execution_date='yesterday' is not a date; use YYYY-MM-DD, e.g. 2021-01-15.",
        ),
        (
            {"months": "2020-12,2020-13"},
            "Runtime variable month=13 is not a month; use a number from 1 to 12.",
        ),
    ],
)
def test_invalid_runtime_variables_are_rejected_before_any_write(
    sinks, files, loaded, kwargs, message
):
    files.requests.clear()
    staged_before = sorted(sinks.staging.rglob("*"))
    with pytest.raises(TaxiDataError) as error:
        months = (
            green_months_from_kwargs(kwargs)
            if "months" in kwargs
            else [month_slice_from_kwargs(kwargs)]
        )
        for month in months:
            run_month(month, sinks)
    assert str(error.value) == message
    print(f"\nMESSAGE: {error.value}")
    assert files.requests == [], "something was downloaded"
    assert sorted(sinks.staging.rglob("*")) == staged_before, "something was staged"
    assert state(sinks) == loaded


# --- a sink down ------------------------------------------------------------------------------


def test_postgres_down_is_retried_then_one_clear_error(twin, sinks, files, loaded, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("TAXI_RETRY_BACKOFF_SECONDS", "0.1")
    attempts = []
    real_connect = psycopg.connect

    def counting_connect(*args, **kwargs):
        attempts.append(time.monotonic())
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", counting_connect)
    monkeypatch.setenv("POSTGRES_PORT", str(port))
    started = time.monotonic()
    message = fails(sinks)
    assert message == (
        f"PostgreSQL at 127.0.0.1:{port} (database taxi) is not reachable after 3 attempts "
        f'(connection failed: connection to server at "127.0.0.1", port {port} failed: Connection '
        "refused); start it (`make up`) or fix POSTGRES_HOST/POSTGRES_PORT and re-run."
    )
    assert len(attempts) == 3 and time.monotonic() - started >= 0.3  # 0.1 s, then 0.2 s
    monkeypatch.setenv("POSTGRES_PORT", twin.env["POSTGRES_PORT"])
    assert state(sinks) == loaded


# An emulator down: (its variable, the export as a call prepared with healthy peers, the one
# sentence expected for the closed port).
EMULATORS_DOWN = {
    "gcs": (
        "STORAGE_EMULATOR_HOST",
        lambda sinks: functools.partial(
            ingest.export_gcs_partitioned, ingest.transform(ingest.load(A)), sinks.prefix
        ),
        lambda port, sinks: (
            f"Cloud Storage at http://127.0.0.1:{port} failed while listing old staging objects "
            "after 3 attempts ([Errno 111] Connection refused); start it (`make up`) or check "
            "GCS_BUCKET and credentials, then re-run."
        ),
    ),
    "bigquery": (
        "BIGQUERY_EMULATOR_HOST",
        lambda sinks: functools.partial(ingest.export_bigquery, A, sinks.prefix, sinks.bq_table),
        lambda port, sinks: (
            f"BigQuery at http://127.0.0.1:{port} failed while loading month 2021-01 into "
            f"mage-gcp-local.{sinks.dataset}.{sinks.bq_table}$202101 after 3 attempts ([Errno "
            "111] Connection refused); start it (`make up`) or check BIGQUERY_DATASET and "
            "credentials, then re-run."
        ),
    ),
}


@pytest.mark.parametrize("emulator", sorted(EMULATORS_DOWN))
def test_emulator_down_is_one_clear_error(twin, sinks, files, loaded, monkeypatch, emulator):
    variable, prepare, expected = EMULATORS_DOWN[emulator]
    port = closed_port()
    export = prepare(sinks)
    monkeypatch.setenv(variable, f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(TaxiDataError) as error:
        export()
    print(f"\nMESSAGE: {error.value}")
    assert str(error.value) == expected(port, sinks)
    assert time.monotonic() - started < 10, "the client library's own retries hid the error"
    monkeypatch.setenv(variable, twin.env[variable])
    assert state(sinks) == loaded

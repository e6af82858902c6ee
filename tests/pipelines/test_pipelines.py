"""Each pipeline through a real `mage run` against the twin, then what landed in each sink.

Expected figures are computed independently of the project's code: the course way, with
pandas over the very files the twin serves (``pd.read_csv`` with the course dtypes, then the
course's filters).
"""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from twin.pipelines import PIPELINES, run_pipeline

from mage_project.utils import lake
from mage_project.utils.image_contract import REPO_ROOT
from tests.course_reading import course_frame

pytestmark = pytest.mark.twin

SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"
GREEN_MONTHS = ("2020-10", "2020-11", "2020-12")


def served(twin, color: str, month: str) -> Path:
    return Path(twin.data_dir) / color / f"{color}_tripdata_{month}.csv.gz"


def yellow_expected(twin) -> pd.DataFrame:
    frame = course_frame(served(twin, "yellow", "2021-01"), "yellow")
    return frame[frame["passenger_count"] > 0]


def green_expected(twin, month: str) -> pd.DataFrame:
    frame = course_frame(served(twin, "green", month), "green")
    return frame[(frame["passenger_count"] > 0) & (frame["trip_distance"] > 0)]


@pytest.fixture(scope="module")
def runs(twin, tmp_path_factory):
    """Every pipeline run once, in dependency order (each `mage run` takes ~7-12 s)."""
    logs = tmp_path_factory.mktemp("runs")
    variables = {"api_to_gcs_parameterized": {"execution_date": "2021-01-15"}}
    results = {}
    for name in PIPELINES:
        results[name] = run_pipeline(
            name, twin.subprocess_env(), variables.get(name), log=logs / f"{name}.log"
        )
    return results


@pytest.fixture
def pg(twin):
    env = twin.env
    with psycopg.connect(
        host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"], dbname=env["POSTGRES_DBNAME"], autocommit=True,
    ) as conn:  # fmt: skip
        yield conn


@pytest.fixture
def gcs(twin, monkeypatch) -> storage.Bucket:
    for name, value in twin.env.items():  # the project's reader (lake.py) too
        monkeypatch.setenv(name, value)
    client = storage.Client(project=twin.env["GCP_PROJECT_ID"], credentials=AnonymousCredentials())
    return client.bucket(twin.env["GCS_BUCKET"])


def read_parquet(bucket: storage.Bucket, name: str, tmp_path: Path):
    local = tmp_path / name.replace("/", "__")
    bucket.blob(name).download_to_filename(str(local))
    return pq.read_table(local)


def month_count(pg, table: str, month: str) -> int:
    return pg.execute(f"SELECT count(*) FROM {table} WHERE source_month = %s", [month]).fetchone()[
        0
    ]


def column_types(pg, schema: str, table: str) -> dict[str, str]:
    rows = pg.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        [schema, table],
    ).fetchall()
    return dict(rows)


def test_every_pipeline_run_succeeds(runs):
    failed = {name: r.error for name, r in runs.items() if not r.ok}
    assert failed == {}


def test_api_to_postgres_lands_the_course_rows_with_course_types(runs, twin, pg):
    assert runs["api_to_postgres"].ok, runs["api_to_postgres"].error
    expected = yellow_expected(twin)
    assert len(expected) > 1000
    assert month_count(pg, "ny_taxi.yellow_cab_data", "2021-01") == len(expected)
    types = column_types(pg, "ny_taxi", "yellow_cab_data")
    assert types["tpep_pickup_datetime"] == "timestamp without time zone"
    assert types["passenger_count"] == types["vendor_id"] == "bigint"
    assert types["fare_amount"] == "double precision"
    assert pg.execute("SELECT min(passenger_count) FROM ny_taxi.yellow_cab_data").fetchone()[0] > 0
    total = pg.execute(
        "SELECT round(sum(total_amount)::numeric, 2) FROM ny_taxi.yellow_cab_data "
        "WHERE source_month = '2021-01'"
    ).fetchone()[0]
    assert float(total) == pytest.approx(expected["total_amount"].sum(), abs=0.01)


def test_api_to_gcs_writes_one_object_and_a_pickup_date_partitioned_dataset(
    runs, twin, gcs, tmp_path
):
    assert runs["api_to_gcs"].ok, runs["api_to_gcs"].error
    expected = yellow_expected(twin)
    single = read_parquet(gcs, "nyc_taxi_data/yellow_tripdata_2021-01.parquet", tmp_path)
    assert single.num_rows == len(expected)
    assert str(single.schema.field("tpep_pickup_datetime").type) == "timestamp[us]"
    # the twin is shared by the session: other tests land other months under the same prefix
    # the month as its manifest says (lake.py); objects are named by their source month
    version = lake.current(gcs.name, "nyc_taxi_data_partitioned", "2021-01")
    days = set(expected["tpep_pickup_datetime"].dt.date.astype(str))
    assert version.partitions == sorted(f"tpep_pickup_date={d}" for d in days)
    assert all(name.endswith("/2021-01.parquet") for name in version.objects)
    rows = sum(read_parquet(gcs, version.name(name), tmp_path).num_rows for name in version.objects)
    assert rows == len(expected)
    assert not list(gcs.client.list_blobs(gcs, prefix="_staging/")), "staging objects left"


def test_gcs_to_bigquery_loads_timestamps_not_int64(runs, twin, bq):
    assert runs["gcs_to_bigquery"].ok, runs["gcs_to_bigquery"].error
    table = bq.get_table(f"{twin.env['BIGQUERY_DATASET']}.yellow_cab_data")
    types = {field.name: field.field_type for field in table.schema}
    assert types["tpep_pickup_datetime"] in ("TIMESTAMP", "DATETIME")
    assert types["tpep_dropoff_datetime"] in ("TIMESTAMP", "DATETIME")
    assert types["tpep_pickup_date"] == "DATE"
    assert all(name == name.lower() and " " not in name for name in types)
    counts = {
        row["source_month"]: row["n"]
        for row in bq.query(
            f"SELECT source_month, COUNT(*) AS n FROM `{table.full_table_id.replace(':', '.')}` "
            "WHERE source_month = '2021-01' GROUP BY 1"  # other tests load other months
        ).result()
    }
    assert counts == {"2021-01": len(yellow_expected(twin))}


def test_gcs_to_bigquery_is_one_load_job_that_reads_the_months_gs_uri(runs, twin, bq, gcs):
    """BigQuery reads the month from GCS itself (load_table_from_uri): the job names the
    month's warehouse-ready objects, not an upload, and replaces only its partition."""
    from mage_project.utils.warehouse_objects import month_prefix, source_uris

    assert runs["gcs_to_bigquery"].ok, runs["gcs_to_bigquery"].error
    uris = source_uris(twin.env["GCS_BUCKET"], "nyc_taxi_data_partitioned", "2021-01")
    loads = [
        job
        for job in (bq.get_job(j.job_id) for j in bq.list_jobs(max_results=1000))
        if job.job_type == "load" and job.destination.table_id == "yellow_cab_data$202101"
    ]
    assert loads and all(job.source_uris == uris for job in loads), [j.source_uris for j in loads]
    assert {(job.write_disposition, job.create_disposition) for job in loads} == {
        ("WRITE_TRUNCATE", "CREATE_NEVER")
    }
    copy = list(
        gcs.client.list_blobs(gcs, prefix=f"{month_prefix('nyc_taxi_data_partitioned')}/2021-01/")
    )
    assert len(copy) == 1 and loads[0].output_rows == len(yellow_expected(twin))


def test_parameterized_run_writes_that_days_object(runs, twin, gcs, tmp_path):
    assert runs["api_to_gcs_parameterized"].ok, runs["api_to_gcs_parameterized"].error
    expected = yellow_expected(twin)
    day = date(2021, 1, 15)
    on_day = expected[expected["tpep_pickup_datetime"].dt.date == day]
    table = read_parquet(gcs, "2021/01/15/daily-trips.parquet", tmp_path)
    assert table.num_rows == len(on_day) > 0


def test_green_taxi_etl_homework(runs, twin, pg, gcs):
    assert runs["green_taxi_etl"].ok, runs["green_taxi_etl"].error
    expected = {month: green_expected(twin, month) for month in GREEN_MONTHS}
    for month, frame in expected.items():
        assert month_count(pg, "mage.green_taxi", month) == len(frame), month
    types = column_types(pg, "mage", "green_taxi")
    assert {
        "vendor_id",
        "ratecode_id",
        "pu_location_id",
        "do_location_id",
        "lpep_pickup_date",
    } <= set(types)
    assert not {"VendorID", "vendorid", "RatecodeID", "PULocationID"} & set(types)
    vendors = {v for (v,) in pg.execute("SELECT DISTINCT vendor_id FROM mage.green_taxi")}
    assert vendors == set().union(*(set(f["VendorID"].dropna()) for f in expected.values()))
    bad = pg.execute(
        "SELECT count(*) FROM mage.green_taxi WHERE passenger_count <= 0 OR trip_distance <= 0"
    ).fetchone()[0]
    assert bad == 0
    partitions = {
        partition
        for month in expected
        for partition in lake.current(gcs.name, "green_taxi", month).partitions
    }
    days = set().union(
        *(set(f["lpep_pickup_datetime"].dt.date.astype(str)) for f in expected.values())
    )
    assert partitions == {f"lpep_pickup_date={d}" for d in days}


def test_green_trigger_is_daily_at_0500_utc():
    import yaml

    path = REPO_ROOT / "mage_project/pipelines/green_taxi_etl/triggers.yaml"
    (trigger,) = yaml.safe_load(path.read_text())["triggers"]
    assert (trigger["schedule_type"], trigger["schedule_interval"], trigger["status"]) == (
        "time",
        "0 5 * * *",
        "active",
    )
    assert trigger["start_time"].utcoffset().total_seconds() == 0


def test_rerun_of_one_green_month_replaces_only_that_month(runs, twin, pg):
    assert runs["green_taxi_etl"].ok
    before = {m: month_count(pg, "mage.green_taxi", m) for m in GREEN_MONTHS}
    result = run_pipeline("green_taxi_etl", twin.subprocess_env(), {"months": "2020-11"})
    assert result.ok, result.error
    assert {m: month_count(pg, "mage.green_taxi", m) for m in GREEN_MONTHS} == before


def test_backfill_style_run_owns_the_month_of_its_execution_date(runs, twin, pg):
    """A trigger/backfill run passes only execution_date: it loads that date's month."""
    assert runs["api_to_postgres"].ok
    before = month_count(pg, "ny_taxi.yellow_cab_data", "2021-01")
    result = run_pipeline(
        "api_to_postgres", twin.subprocess_env(), {"execution_date": "2021-01-20"}
    )
    assert result.ok, result.error
    assert month_count(pg, "ny_taxi.yellow_cab_data", "2021-01") == before


@pytest.mark.parametrize(
    ("variables", "sentence"),
    [
        ({"month": 13}, "Runtime variable month=13 is not a month; use a number from 1 to 12."),
        ({"color": "purple"}, "Runtime variable color='purple' is not a taxi colour"),
        (
            {"year": 2019, "month": 5},
            "yellow/yellow_tripdata_2019-05.csv.gz was not found (HTTP 404): that month is not published",
        ),
    ],
)
def test_bad_run_fails_with_one_sentence_and_writes_nothing(runs, twin, pg, variables, sentence):
    assert runs["api_to_postgres"].ok
    tables_before = pg.execute(
        "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = 'ny_taxi' "
        "AND relname LIKE 'yellow_cab_data%' ORDER BY 1"
    ).fetchall()
    counts_before = pg.execute(
        "SELECT source_month, count(*) FROM ny_taxi.yellow_cab_data GROUP BY 1 ORDER BY 1"
    ).fetchall()
    result = run_pipeline("api_to_postgres", twin.subprocess_env(), variables)
    assert not result.ok
    assert sentence in result.error
    assert result.error.count(". ") == 0, "one sentence"
    assert (
        pg.execute(
            "SELECT source_month, count(*) FROM ny_taxi.yellow_cab_data GROUP BY 1 ORDER BY 1"
        ).fetchall()
        == counts_before
    )
    names_after = pg.execute(
        "SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'ny_taxi' "
        "AND relname LIKE 'yellow_cab_data%' ORDER BY 1"
    ).fetchall()
    assert [n for (n,) in names_after] == [n for n, _ in tables_before]


@pytest.mark.skipif(
    not (SHARED_DATA / "yellow_tripdata_2021-01_head.csv.gz").exists(),
    reason="../shared/data (real TLC sample) is not available in this clone",
)
def test_real_tlc_file_from_a_local_folder(twin, pg, tmp_path):
    """TAXI_DATA_BASE_URL may be a folder of real files; the course answer comes out."""
    folder = tmp_path / "tlc"
    (folder / "yellow").mkdir(parents=True)
    # The real file's first rows, published as a month no other test uses.
    shutil.copy(
        SHARED_DATA / "yellow_tripdata_2021-01_head.csv.gz",
        folder / "yellow" / "yellow_tripdata_2021-02.csv.gz",
    )
    env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": str(folder)}
    result = run_pipeline("api_to_postgres", env, {"year": 2021, "month": 2})
    assert result.ok, result.error
    expected = course_frame(folder / "yellow" / "yellow_tripdata_2021-02.csv.gz", "yellow")
    with gzip.open(folder / "yellow" / "yellow_tripdata_2021-02.csv.gz", "rt") as handle:
        assert sum(1 for _ in handle) - 1 == len(expected) == 22_792
    kept = expected[expected["passenger_count"] > 0]
    assert month_count(pg, "ny_taxi.yellow_cab_data", "2021-02") == len(kept)
    pg.execute("DROP TABLE ny_taxi.yellow_cab_data__2021_02")  # leave the shared twin as found

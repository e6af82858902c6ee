"""What the blocks can rely on: the real clients against the twin's services.

These document the emulator facts of docs/CONTRACTS.md and issue 2 with the real
google-cloud-storage, gcsfs, google-cloud-bigquery and psycopg clients.
"""

from __future__ import annotations

import gzip
import io
import time
import urllib.error
import urllib.request
import uuid

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

from mage_project.utils import env_contract

pytestmark = pytest.mark.twin


@pytest.fixture
def gcs(twin, monkeypatch) -> storage.Client:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", twin.env["STORAGE_EMULATOR_HOST"])
    return storage.Client(project=twin.env["GCP_PROJECT_ID"], credentials=AnonymousCredentials())


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_env_has_every_variable_of_the_contract(twin):
    names = env_contract.names("twin")
    assert len(names) >= 15, names
    assert names <= set(twin.env), names - set(twin.env)
    assert all(twin.env[name] for name in names)


def test_postgres_password_user_owns_taxi_schemas_and_mage_database(twin):
    env = twin.env
    params = dict(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"])
    with psycopg.connect(**params, password=env["POSTGRES_PASSWORD"], dbname="taxi") as conn:
        owners = dict(
            conn.execute(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace "
                "WHERE nspname IN ('ny_taxi', 'mage')"
            ).fetchall()
        )
        assert owners == {"ny_taxi": env["POSTGRES_USER"], "mage": env["POSTGRES_USER"]}
        conn.execute("CREATE TABLE ny_taxi.twin_probe (id int)")
        conn.execute("DROP TABLE ny_taxi.twin_probe")
    with psycopg.connect(**params, password=env["POSTGRES_PASSWORD"], dbname="mage") as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("mage",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**params, password="wrong", dbname="taxi")


def test_gcs_upload_list_download_with_google_cloud_storage(twin, gcs):
    bucket = gcs.bucket(twin.env["GCS_BUCKET"])
    prefix = unique("probe")
    bucket.blob(f"{prefix}/a.txt").upload_from_string(b"hello twin")
    bucket.blob(f"{prefix}/b/c.txt").upload_from_string(b"nested")
    names = sorted(blob.name for blob in gcs.list_blobs(bucket, prefix=prefix))
    assert names == [f"{prefix}/a.txt", f"{prefix}/b/c.txt"]
    assert bucket.blob(f"{prefix}/a.txt").download_as_bytes() == b"hello twin"
    # Stored on disk where the BigQuery emulator resolves gs:// URIs.
    assert (twin.gcs_root / twin.env["GCS_BUCKET"] / prefix / "a.txt").read_bytes() == b"hello twin"


def test_gcsfs_and_pyarrow_write_and_read_parquet_quickly(twin, monkeypatch):
    import gcsfs

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", twin.env["STORAGE_EMULATOR_HOST"])
    started = time.monotonic()
    fs = gcsfs.GCSFileSystem(
        endpoint_url=twin.env["STORAGE_EMULATOR_HOST"], token="anon", skip_instance_cache=True
    )
    root = f"{twin.env['GCS_BUCKET']}/{unique('gcsfs')}"
    table = pa.table({"day": ["2021-01-01", "2021-01-02"], "n": [1, 2]})
    pq.write_to_dataset(table, root, partition_cols=["day"], filesystem=fs)
    files = sorted(fs.find(root))
    assert [f.split("/")[-2] for f in files] == ["day=2021-01-01", "day=2021-01-02"]
    back = pq.read_table(root, filesystem=fs).to_pandas()
    assert sorted(back["n"].tolist()) == [1, 2]
    assert time.monotonic() - started < 15, "gcsfs stalled (GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT?)"


def test_bigquery_dataset_exists_and_queries_run(twin, bq):
    dataset = bq.get_dataset(twin.env["BIGQUERY_DATASET"])
    assert dataset.project == twin.env["GCP_PROJECT_ID"]
    rows = list(bq.query("SELECT 40 + 2 AS answer, CURRENT_DATE() IS NOT NULL AS ok").result())
    assert (rows[0]["answer"], rows[0]["ok"]) == (42, True)


def test_bigquery_load_table_from_dataframe_small_upload(twin, bq):
    table_id = f"{twin.env['BIGQUERY_DATASET']}.{unique('df')}"
    frame = pd.DataFrame(
        {"id": [1, 2, 3], "pickup": pd.to_datetime(["2021-01-01 00:15", "2021-01-01 01:00", None])}
    )
    bq.load_table_from_dataframe(frame, table_id).result()
    back = bq.query(f"SELECT COUNT(*) AS n, COUNT(pickup) AS p FROM {table_id}").result()
    assert [tuple(row.values()) for row in back] == [(3, 2)]
    field_types = {f.name: f.field_type for f in bq.get_table(table_id).schema}
    assert field_types["pickup"] in {"TIMESTAMP", "DATETIME"}
    # No BigQuery Storage client (it would point at Google) is needed to read results.
    frame_back = bq.list_rows(table_id).to_dataframe(create_bqstorage_client=False)
    assert sorted(frame_back["id"].tolist()) == [1, 2, 3]


def test_bigquery_load_job_from_gcs_partitioned_parquet_with_explicit_schema(twin, gcs, bq):
    bucket = gcs.bucket(twin.env["GCS_BUCKET"])
    prefix = unique("partitioned")
    days = {"2021-01-01": 3, "2021-01-02": 2}
    for day, count in days.items():
        table = pa.table(  # column order differs from the schema: columns match by name
            {
                "fare_amount": pa.array([9.5] * count, pa.float64()),
                "vendor_id": pa.array(range(count), pa.int64()),
                "tpep_pickup_datetime": pa.array(
                    [pd.Timestamp(f"{day} 0{i}:30") for i in range(count)], pa.timestamp("us")
                ),
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        blob = bucket.blob(f"{prefix}/pickup_date={day}/part-0.parquet")
        blob.upload_from_string(buffer.getvalue(), content_type="application/octet-stream")
    schema = [
        bigquery.SchemaField("vendor_id", "INT64"),
        bigquery.SchemaField("tpep_pickup_datetime", "TIMESTAMP"),
        bigquery.SchemaField("fare_amount", "FLOAT64"),
    ]
    table_id = f"{twin.env['GCP_PROJECT_ID']}.{twin.env['BIGQUERY_DATASET']}.{unique('gcs')}"
    job = bq.load_table_from_uri(
        # one wildcard per URI, as BigQuery allows (docs/warehouse.md, twin/bq_gcs.py)
        f"gs://{twin.env['GCS_BUCKET']}/{prefix}/pickup_date=*/part-0.parquet",
        table_id,
        job_config=bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            schema=schema,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        ),
    )
    job.result()
    assert bq.get_table(table_id).num_rows == sum(days.values())
    legacy = {"INT64": "INTEGER", "FLOAT64": "FLOAT"}  # the emulator answers standard SQL names
    types = [legacy.get(f.field_type, f.field_type) for f in bq.get_table(table_id).schema]
    assert types == ["INTEGER", "TIMESTAMP", "FLOAT"]
    rows = bq.query(
        f"SELECT DATE(tpep_pickup_datetime) AS d, COUNT(*) AS n FROM `{table_id}` "
        "GROUP BY d ORDER BY d"
    ).result()
    assert [(str(r["d"]), r["n"]) for r in rows] == list(days.items())
    fares = bq.query(
        f"SELECT DISTINCT fare_amount, MAX(vendor_id) AS v FROM `{table_id}` GROUP BY 1"
    )
    assert [tuple(r.values()) for r in fares.result()] == [(9.5, 2)]


def test_bigquery_create_table_as_select_materializes(twin, bq):
    dataset = twin.env["BIGQUERY_DATASET"]
    name = unique("ctas")
    bq.query(
        f"CREATE OR REPLACE TABLE {dataset}.{name} AS SELECT 1 AS x UNION ALL SELECT 2"
    ).result()
    assert bq.get_table(f"{dataset}.{name}").num_rows == 2


def test_file_server_serves_release_layout_and_404s_missing_months(twin):
    base = twin.env["TAXI_DATA_BASE_URL"]
    payload = gzip.compress(b"VendorID,tpep_pickup_datetime\n1,2021-03-01 00:00:00\n")
    target = twin.data_dir / "yellow" / "yellow_tripdata_1999-03.csv.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(payload)
    flat = twin.data_dir / "green_tripdata_1999-04.csv.gz"
    flat.write_bytes(payload)
    try:
        with urllib.request.urlopen(f"{base}/yellow/yellow_tripdata_1999-03.csv.gz") as response:
            assert response.status == 200
            assert response.read() == payload
        with urllib.request.urlopen(f"{base}/green/green_tripdata_1999-04.csv.gz") as response:
            assert response.read() == payload  # a flat folder of downloads works too
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/yellow/yellow_tripdata_1999-05.csv.gz")
        assert missing.value.code == 404
        assert b"yellow_tripdata_1999-05.csv.gz" in missing.value.read()
    finally:
        target.unlink()
        flat.unlink()


def test_default_sample_months_are_served(twin):
    if twin.data_dir_configured:
        pytest.skip("TAXI_DATA_DIR is set, so the twin serves that folder instead of samples")
    base = twin.env["TAXI_DATA_BASE_URL"]
    for color, year, month in [("yellow", 2021, 1), ("green", 2020, 10)]:
        name = f"{color}_tripdata_{year}-{month:02d}.csv.gz"
        with urllib.request.urlopen(f"{base}/{color}/{name}") as response:
            header = gzip.decompress(response.read()).split(b"\n", 1)[0]
        assert header.startswith(b"VendorID,")


def test_session_twin_started_quickly(twin):
    assert twin.start_seconds is not None
    assert twin.start_seconds < 45, f"twin start took {twin.start_seconds:.1f} s"


def test_mages_metadata_url_bounds_its_connect(twin):
    """The twin's Mage (its `mage start`, a direct `mage run`) opens its metadata database with a
    connect timeout, as the runner bounds the cloud's (mage_runner.metadata_db)."""
    from urllib.parse import parse_qs, urlsplit

    from mage_runner.metadata_db import DEFAULT_TIMEOUT

    query = parse_qs(urlsplit(twin.env["MAGE_DATABASE_CONNECTION_URL"]).query)
    assert query.get("connect_timeout") == [str(DEFAULT_TIMEOUT)]

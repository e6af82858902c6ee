"""The twin's BigQuery runs load jobs from ``gs://`` URIs by reading its GCS emulator, with
BigQuery's documented behaviour (scripts/twin/bq_gcs.py, bq_launcher.partition_loads):

- a wildcard URI loads every object it matches, and only those;
- the partition decorator ``table$YYYYMM`` with WRITE_TRUNCATE replaces that partition only,
  and rows outside it fail the load;
- CREATE_NEVER on a missing table is ``notFound``;
- a URI (or wildcard) that matches no object fails the job with ``notFound``,
  "Not found: URI gs://…", and the table is unchanged.

Docs: https://cloud.google.com/bigquery/docs/batch-loading-data#load-wildcards,
https://cloud.google.com/bigquery/docs/managing-partitioned-table-data#partition_decorators,
https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfigurationLoad
(createDisposition CREATE_NEVER: "If it does not, a 'notFound' error is returned")."""

from __future__ import annotations

import io
import re
import uuid
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

pytestmark = pytest.mark.twin

SCHEMA = [
    bigquery.SchemaField("trip", "INT64"),
    bigquery.SchemaField("month_start", "DATE"),
]


@pytest.fixture
def gcs(twin, monkeypatch) -> storage.Bucket:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", twin.env["STORAGE_EMULATOR_HOST"])
    client = storage.Client(project=twin.env["GCP_PROJECT_ID"], credentials=AnonymousCredentials())
    return client.bucket(twin.env["GCS_BUCKET"])


@pytest.fixture
def table(twin, bq) -> str:
    """A fresh table partitioned by MONTH on ``month_start`` (the stack's table's shape)."""
    name = f"{twin.env['GCP_PROJECT_ID']}.{twin.env['BIGQUERY_DATASET']}.uri_{uuid.uuid4().hex[:8]}"
    spec = bigquery.Table(name, schema=SCHEMA)
    spec.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field="month_start"
    )
    bq.create_table(spec)
    return name


def put(bucket: storage.Bucket, name: str, trips: list[int], month: date) -> None:
    """One parquet object with the table's columns."""
    data = pa.table({"trip": pa.array(trips, pa.int64()), "month_start": [month] * len(trips)})
    sink = io.BytesIO()
    pq.write_table(data, sink)
    bucket.blob(name).upload_from_string(sink.getvalue(), content_type="application/octet-stream")


def load(bq, uris, destination: str, **options) -> bigquery.LoadJob:
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=SCHEMA,
        write_disposition=options.get("write", bigquery.WriteDisposition.WRITE_TRUNCATE),
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
    )
    return bq.load_table_from_uri(uris, destination, job_config=config).result()


def trips(bq, table: str) -> dict[str, list[int]]:
    """Trips per partition month (``YYYY-MM``)."""
    rows = bq.query(f"SELECT trip, month_start FROM `{table}` ORDER BY trip").result()
    out: dict[str, list[int]] = {}
    for row in rows:
        out.setdefault(row["month_start"].strftime("%Y-%m"), []).append(row["trip"])
    return out


JAN, FEB = date(2021, 1, 1), date(2021, 2, 1)


def test_a_wildcard_uri_loads_exactly_the_objects_it_matches(bq, gcs, table):
    root = f"uri_{uuid.uuid4().hex[:8]}"
    put(gcs, f"{root}/2021-01/part-00000.parquet", [1, 2], JAN)
    put(gcs, f"{root}/2021-01/part-00001.parquet", [3], JAN)
    put(gcs, f"{root}/2021-01/notes.txt.parquet.bak", [90], JAN)  # does not end in .parquet
    put(gcs, f"{root}/2021-011/part-00000.parquet", [91], JAN)  # another folder
    job = load(bq, f"gs://{gcs.name}/{root}/2021-01/*.parquet", f"{table}$202101")
    assert trips(bq, table) == {"2021-01": [1, 2, 3]}
    assert (job.output_rows, job.input_files) == (3, 2)
    assert job.input_file_bytes and job.input_file_bytes > 0


def test_write_truncate_through_the_decorator_replaces_only_that_partition(bq, gcs, table):
    root = f"uri_{uuid.uuid4().hex[:8]}"
    put(gcs, f"{root}/jan.parquet", [1, 2, 3], JAN)
    put(gcs, f"{root}/feb.parquet", [10, 11], FEB)
    load(bq, f"gs://{gcs.name}/{root}/jan.parquet", f"{table}$202101")
    load(bq, f"gs://{gcs.name}/{root}/feb.parquet", f"{table}$202102")
    put(gcs, f"{root}/jan.parquet", [4], JAN)  # the month again, other rows
    job = load(bq, [f"gs://{gcs.name}/{root}/jan.parquet"], f"{table}$202101")
    assert job.output_rows == 1
    assert trips(bq, table) == {"2021-01": [4], "2021-02": [10, 11]}

    # WRITE_APPEND through the decorator adds to that partition only
    load(bq, f"gs://{gcs.name}/{root}/jan.parquet", f"{table}$202101",
         write=bigquery.WriteDisposition.WRITE_APPEND)  # fmt: skip
    assert trips(bq, table) == {"2021-01": [4, 4], "2021-02": [10, 11]}


def test_rows_outside_the_decorated_partition_fail_the_load_and_change_nothing(bq, gcs, table):
    root = f"uri_{uuid.uuid4().hex[:8]}"
    put(gcs, f"{root}/jan.parquet", [1], JAN)
    load(bq, f"gs://{gcs.name}/{root}/jan.parquet", f"{table}$202101")
    with pytest.raises(gexc.GoogleAPICallError, match="outside partition 202102"):
        load(bq, f"gs://{gcs.name}/{root}/jan.parquet", f"{table}$202102")
    assert trips(bq, table) == {"2021-01": [1]}


def test_create_never_on_a_missing_table_is_not_found(twin, bq, gcs):
    root = f"uri_{uuid.uuid4().hex[:8]}"
    put(gcs, f"{root}/jan.parquet", [1], JAN)
    dataset = f"{twin.env['GCP_PROJECT_ID']}.{twin.env['BIGQUERY_DATASET']}"
    missing = f"{dataset}.missing_{uuid.uuid4().hex[:8]}"
    for destination in (missing, f"{missing}$202101"):
        with pytest.raises(gexc.NotFound, match="Not found: Table"):
            load(bq, f"gs://{gcs.name}/{root}/jan.parquet", destination)
    assert missing.rsplit(".", 1)[1] not in {t.table_id for t in bq.list_tables(dataset)}


def test_a_uri_with_no_object_is_not_found_and_changes_nothing(bq, gcs, table):
    root = f"uri_{uuid.uuid4().hex[:8]}"
    put(gcs, f"{root}/2021-01/part-00000.parquet", [1, 2], JAN)
    load(bq, f"gs://{gcs.name}/{root}/2021-01/*.parquet", f"{table}$202101")
    for uri in (
        f"gs://{gcs.name}/{root}/2021-02/part-00000.parquet",  # one object that is not there
        f"gs://{gcs.name}/{root}/2021-02/*.parquet",  # a wildcard that matches nothing
        f"gs://{gcs.name}/{root}/2021-01",  # a "folder" is not an object
    ):
        with pytest.raises(gexc.NotFound, match=f"Not found: URI {re.escape(uri)}$"):
            load(bq, uri, f"{table}$202101")
    # one URI of several with no object: the whole job fails, the partition is unchanged
    with pytest.raises(gexc.NotFound, match="Not found: URI"):
        load(bq, [f"gs://{gcs.name}/{root}/2021-01/*.parquet", f"gs://{gcs.name}/{root}/x/*"],
             f"{table}$202101")  # fmt: skip
    assert trips(bq, table) == {"2021-01": [1, 2]}


def test_the_job_reads_what_gcs_holds_when_it_runs(bq, gcs, table):
    """An object deleted through the GCS API is gone for the next load (the emulator's
    listing, not files left on its disk, decides what a URI matches)."""
    root = f"uri_{uuid.uuid4().hex[:8]}"
    put(gcs, f"{root}/m/a.parquet", [1], JAN)
    put(gcs, f"{root}/m/b.parquet", [2], JAN)
    load(bq, f"gs://{gcs.name}/{root}/m/*.parquet", f"{table}$202101")
    gcs.blob(f"{root}/m/b.parquet").delete()
    job = load(bq, f"gs://{gcs.name}/{root}/m/*.parquet", f"{table}$202101")
    assert (job.output_rows, trips(bq, table)) == (1, {"2021-01": [1]})


def test_a_uri_with_two_wildcards_is_refused(bq, gcs, table):
    with pytest.raises(gexc.GoogleAPICallError, match="one wildcard"):
        load(bq, f"gs://{gcs.name}/a*/b*.parquet", f"{table}$202101")


def test_create_if_needed_makes_the_table_from_the_gs_objects(twin, bq, gcs):
    """Loads that may create their table read the same gs:// objects (bqemulator's create path)."""
    root = f"uri_{uuid.uuid4().hex[:8]}"
    put(gcs, f"{root}/a.parquet", [1, 2], JAN)
    put(gcs, f"{root}/b.parquet", [3], FEB)
    name = f"{twin.env['GCP_PROJECT_ID']}.{twin.env['BIGQUERY_DATASET']}.new_{uuid.uuid4().hex[:8]}"
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=SCHEMA,
        create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
    )
    job = bq.load_table_from_uri(f"gs://{gcs.name}/{root}/*.parquet", name, job_config=config)
    job.result()
    assert job.source_uris == [f"gs://{gcs.name}/{root}/*.parquet"]
    assert trips(bq, name) == {"2021-01": [1, 2], "2021-02": [3]}

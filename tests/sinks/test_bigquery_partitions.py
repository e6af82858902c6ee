"""A month is replaced by ONE load job into its partition (``table$YYYYMM``, WRITE_TRUNCATE), on
the twin's BigQuery (bqemulator + scripts/twin/bq_launcher.py's load-job semantics), which reads
the month's warehouse-ready objects from gs:// itself (the client sends only the job):
other partitions byte-for-byte unchanged, re-runs replace, a failing load changes nothing,
a month without objects is refused, two months at once both land, no query and no
dataset/table creation on the way."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from twin.sample_data import write_month

from mage_project.utils import bigquery as bq
from mage_project.utils import bigquery as bq_module
from mage_project.utils import ingest, warehouse_objects
from mage_project.utils.clients import bigquery_client, project_id
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.slices import MonthSlice
from tests.sinks.sinkkit import kept_rows, row, write_rows

pytestmark = pytest.mark.twin

A, B = MonthSlice("yellow", 2021, 1), MonthSlice("yellow", 2021, 2)


@pytest.fixture
def gcs_bucket(sinks):
    from google.cloud import storage

    from mage_project.utils.clients import storage_client

    bucket: storage.Bucket = storage_client().bucket(sinks.bucket)
    return bucket


def to_gcs(month: MonthSlice, prefix: str) -> int:
    typed = ingest.transform(ingest.load(month))
    ingest.export_gcs_partitioned(typed, prefix)
    return typed.rows_kept


def to_gcs_month(files, sinks, month: MonthSlice, rows: int) -> int:
    write_month(files.root, "yellow", month.year, month.month, rows=rows, seed=month.month)
    return to_gcs(month, sinks.prefix)


def partition_digest(sinks, month: MonthSlice) -> tuple[int, str]:
    """(rows, sha256 of every value of every row, in a total order) of one partition."""
    spec = bq.warehouse_table(sinks.bq_table)
    names = ", ".join(name for name, _ in spec.columns)
    table = f"{project_id()}.{sinks.dataset}.{sinks.bq_table}"
    arrow = (
        bigquery_client()
        .query(
            f"SELECT {names} FROM `{table}` WHERE source_month_start = "
            f"DATE '{month.year}-{month.month:02d}-01' ORDER BY {names}"
        )
        .result()
        .to_arrow(create_bqstorage_client=False)
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, arrow.schema) as writer:
        writer.write_table(arrow)
    return arrow.num_rows, hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def job_types_during(fn) -> list[str]:
    """The BigQuery job types (LOAD, QUERY, ...) the twin ran while ``fn`` ran."""
    client = bigquery_client()
    before = {job.job_id for job in client.list_jobs(max_results=1000)}
    fn()
    return [job.job_type for job in client.list_jobs(max_results=1000) if job.job_id not in before]


def test_rerun_replaces_the_month_and_leaves_others_byte_for_byte(sinks, files):
    # Month A has a pickup outside its month: it stays in A's partition (the file's slice).
    rows_a = [row("yellow", "2021-01-03 08:00:00"), row("yellow", "2020-12-31 23:50:00")]
    write_rows(files.root, A, rows_a)
    file_b = kept_rows(write_month(files.root, "yellow", 2021, 2, rows=150, seed=2))
    for month in (A, B):
        to_gcs(month, sinks.prefix)
        ingest.export_bigquery(month, sinks.prefix, sinks.bq_table)
    assert bq.slice_counts(sinks.dataset, sinks.bq_table) == {"2021-01": 2, "2021-02": file_b}
    assert partition_digest(sinks, A)[0] == 2, "the out-of-month pickup left its file's partition"
    b_before = partition_digest(sinks, B)

    second = write_month(files.root, "yellow", 2021, 1, rows=90, seed=3)
    to_gcs(A, sinks.prefix)
    types = job_types_during(lambda: ingest.export_bigquery(A, sinks.prefix, sinks.bq_table))

    assert types == ["load"], f"replacing a slice ran {types}, not one load job"
    assert bq.slice_counts(sinks.dataset, sinks.bq_table) == {
        "2021-01": kept_rows(second),
        "2021-02": file_b,
    }
    assert partition_digest(sinks, B) == b_before, "another month's partition changed"
    again = partition_digest(sinks, A)
    ingest.export_bigquery(A, sinks.prefix, sinks.bq_table)
    assert partition_digest(sinks, A) == again, "a re-run of the same files changed the month"


def test_a_failing_load_leaves_the_partition_as_before(sinks, files, gcs_bucket):
    kept = to_gcs_month(files, sinks, A, 120)
    ingest.export_bigquery(A, sinks.prefix, sinks.bq_table)
    before = partition_digest(sinks, A)
    spec = bq.warehouse_table(sinks.bq_table)

    broken = f"{sinks.prefix}_broken/2021-01/part-00000.parquet"
    gcs_bucket.blob(broken).upload_from_string(b"PAR1 this is not a parquet file")
    with pytest.raises(TaxiDataError, match="failed while loading month 2021-01"):
        bq.load_partition(sinks.dataset, spec, A, [f"gs://{sinks.bucket}/{broken}"])
    assert partition_digest(sinks, A) == before

    # A's rows through B's decorator: BigQuery refuses rows outside the decorated partition.
    uris = warehouse_objects.source_uris(sinks.bucket, sinks.prefix, A.name)
    with pytest.raises(TaxiDataError, match="outside partition 202102"):
        bq.load_partition(sinks.dataset, spec, B, uris)
    assert partition_digest(sinks, A) == before
    assert bq.slice_counts(sinks.dataset, sinks.bq_table) == {"2021-01": kept}


def test_a_month_without_warehouse_objects_is_refused_and_kept(sinks, files, gcs_bucket):
    to_gcs_month(files, sinks, A, 80)
    ingest.export_bigquery(A, sinks.prefix, sinks.bq_table)
    before = partition_digest(sinks, A)
    folder = f"{warehouse_objects.month_prefix(sinks.prefix)}/{A.name}/"
    for blob in gcs_bucket.client.list_blobs(gcs_bucket, prefix=folder):
        blob.delete()
    with pytest.raises(
        TaxiDataError,
        match="holds no warehouse objects of month 2021-01 at gs://.*; run api_to_gcs",
    ):
        ingest.export_bigquery(A, sinks.prefix, sinks.bq_table)
    assert partition_digest(sinks, A) == before


def test_the_load_reads_gcs_server_side_and_the_objects_carry_the_tables_columns(
    sinks, files, gcs_bucket, monkeypatch
):
    """The client sends the job and nothing else (no Cloud Storage call); BigQuery reads
    the month's warehouse-ready objects (exactly the table's columns and types) from gs://."""
    kept = to_gcs_month(files, sinks, A, 150)
    spec = bq.warehouse_table(sinks.bq_table)
    folder = f"{warehouse_objects.month_prefix(sinks.prefix)}/{A.name}/"
    [blob] = list(gcs_bucket.client.list_blobs(gcs_bucket, prefix=folder))
    schema = pq.read_schema(pa.BufferReader(blob.download_as_bytes()))
    assert schema == warehouse_objects.load_schema(spec)
    assert [f.name for f in schema] == [name for name, _ in spec.columns]
    assert str(schema.field("tpep_pickup_datetime").type) == "timestamp[us, tz=UTC]"

    from mage_project.utils import clients, gcs

    def no_gcs(*args, **kwargs):
        raise AssertionError("the BigQuery load called Cloud Storage from the client")

    monkeypatch.setattr(clients, "storage_client", no_gcs)
    monkeypatch.setattr(gcs, "storage_client", no_gcs)
    client = bigquery_client()
    before = {job.job_id for job in client.list_jobs(max_results=1000)}
    result = ingest.export_bigquery(A, sinks.prefix, sinks.bq_table)
    [job] = [j for j in client.list_jobs(max_results=1000) if j.job_id not in before]
    assert job.job_type == "load"
    job = client.get_job(job.job_id)
    assert job.source_uris == warehouse_objects.source_uris(sinks.bucket, sinks.prefix, A.name)
    assert job.destination.table_id == f"{sinks.bq_table}$202101"
    assert (job.write_disposition, job.create_disposition) == ("WRITE_TRUNCATE", "CREATE_NEVER")
    assert result.rows == job.output_rows == kept
    assert bq.slice_counts(sinks.dataset, sinks.bq_table) == {"2021-01": kept}


def test_a_colour_no_table_loads_lands_no_warehouse_objects(sinks, files, gcs_bucket):
    month = MonthSlice("green", 2020, 10)
    write_month(files.root, "green", 2020, 10, rows=60, seed=4)
    to_gcs(month, sinks.prefix)
    assert not list(
        gcs_bucket.client.list_blobs(
            gcs_bucket, prefix=warehouse_objects.month_prefix(sinks.prefix)
        )
    )


def test_two_months_loaded_at_once_both_land(sinks, files):
    counts = {}
    for month, rows in ((A, 300), (B, 200)):
        write_month(files.root, "yellow", month.year, month.month, rows=rows, seed=month.month)
        counts[month.name] = to_gcs(month, sinks.prefix)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def load(month: MonthSlice) -> None:
        try:
            start.wait(30)
            ingest.export_bigquery(month, sinks.prefix, sinks.bq_table)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=load, args=(m,)) for m in (A, B)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert bq.slice_counts(sinks.dataset, sinks.bq_table) == counts


def test_the_pipeline_never_creates_the_dataset_or_table(sinks, files, monkeypatch):
    """The runtime account has data-editor on the dataset only: no datasets.create (issue 8)."""
    write_month(files.root, "yellow", 2021, 1, rows=50, seed=1)
    to_gcs(A, sinks.prefix)
    client = bigquery_client()
    absent = f"absent_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("BIGQUERY_DATASET", absent)
    with pytest.raises(TaxiDataError, match="does not exist; the stack .* creates it"):
        ingest.export_bigquery(A, sinks.prefix, sinks.bq_table)
    assert absent not in {d.dataset_id for d in client.list_datasets()}, "a dataset was created"

    monkeypatch.setenv("BIGQUERY_DATASET", sinks.dataset)
    missing = f"missing_{uuid.uuid4().hex[:8]}"
    with pytest.raises(TaxiDataError, match=f"table .*{missing} does not exist"):
        ingest.export_bigquery(A, sinks.prefix, missing)
    assert missing not in {t.table_id for t in client.list_tables(sinks.dataset)}


def test_the_twin_table_is_the_stacks_definition(twin, bq):
    from mage_project.utils.schema import YELLOW_WAREHOUSE

    table = bq.get_table(f"{twin.env['GCP_PROJECT_ID']}.ny_taxi.yellow_cab_data")
    assert [(f.name, f.field_type) for f in table.schema] == YELLOW_WAREHOUSE.columns
    assert (table.time_partitioning.type_, table.time_partitioning.field) == (
        "MONTH",
        "source_month_start",
    )
    assert tuple(table.clustering_fields) == YELLOW_WAREHOUSE.clustering


def test_the_twin_replaces_a_table_of_the_old_shape_and_keeps_a_current_one(sinks, bq):
    from google.cloud import bigquery
    from twin.warehouse import create_table

    url, project = os.environ["BIGQUERY_EMULATOR_HOST"], os.environ["GCP_PROJECT_ID"]
    name = f"{project}.{sinks.dataset}.old_{uuid.uuid4().hex[:8]}"
    bq.create_table(bigquery.Table(name, schema=[bigquery.SchemaField("source_month", "STRING")]))
    spec = bq_module.warehouse_table(name.rsplit(".", 1)[1])
    create_table(url, project, sinks.dataset, spec)
    table = bq.get_table(name)
    assert table.time_partitioning.field == "source_month_start"
    bq.query(f"INSERT INTO `{name}` (source_month) VALUES ('2021-01')").result()
    create_table(url, project, sinks.dataset, spec)  # a restart: the same shape is kept
    assert (
        bq.get_table(name).num_rows == 1
        or list(bq.query(f"SELECT COUNT(*) AS n FROM `{name}`").result())[0]["n"] == 1
    )

"""A failed run changes no sink across the whole pipeline (issue 21): `mage_runner run` of
api_to_gcs and green_taxi_etl on the twin, with Cloud Storage frozen at one moment of one block
(an HTTP proxy in front of the GCS emulator that never answers the matching requests).

Every exporter block only stages; one block (commit_slice) commits after all staged. On the old
code the sibling exporter committed its sink before the other stalled: api_to_gcs replaced the
month object, green_taxi_etl replaced the Postgres month, and the error said "nothing was
changed". A stall in the commit itself ends with one sentence naming which sinks hold the new
slice and which the old, and the next run converges.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import psycopg
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from twin.pipelines import run_pipeline
from twin.sample_data import write_month

from tests.hostile.kit import HostileFileServer, StallingHTTPProxy

pytestmark = pytest.mark.twin
DEADLINE = 10  # TAXI_GCS_DEADLINE_SECONDS of the hostile runs (a loaded 2-core CI machine stages 300 rows through the proxy in well under it)
LIMIT = 150  # seconds a whole `mage_runner run` may take here (Mage starts in ~10-20 s)


@pytest.fixture(autouse=True)
def no_staging_left(twin):
    """A failed run leaves its staged objects under _staging/ (removed by later runs after
    TAXI_STAGING_KEEP_SECONDS); remove them so the other pipeline tests start clean."""
    yield
    client = storage.Client(project=twin.env["GCP_PROJECT_ID"], credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": twin.env["STORAGE_EMULATOR_HOST"]})  # fmt: skip
    for blob in client.list_blobs(twin.env["GCS_BUCKET"], prefix="_staging/"):
        blob.delete()


def objects(twin, *prefixes: str) -> dict[str, tuple[int, str]]:
    """Object name → (generation, md5): a rewrite with the same bytes shows too."""
    client = storage.Client(project=twin.env["GCP_PROJECT_ID"], credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": twin.env["STORAGE_EMULATOR_HOST"]})  # fmt: skip
    return {
        b.name: (b.generation, b.md5_hash)
        for prefix in prefixes
        for b in client.list_blobs(twin.env["GCS_BUCKET"], prefix=prefix)
    }


def pg_month(twin, table: str, month: str) -> tuple[int, str]:
    env = twin.env
    with psycopg.connect(
        host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"], dbname=env["POSTGRES_DBNAME"], autocommit=True,
    ) as conn:  # fmt: skip
        return conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
            f"FROM {table} AS t WHERE source_month = %s",
            [month],
        ).fetchone()


def hostile_run(twin, tmp_path: Path, pipeline: str, variables: dict, served: Path, stall):
    """Run ``pipeline`` with new files served from ``served`` and GCS behind a proxy that
    freezes on the requests ``stall`` names; returns (result, proxy, seconds)."""
    server = HostileFileServer(served, mode="plain").start()
    proxy = StallingHTTPProxy(twin.env["STORAGE_EMULATOR_HOST"], stall)
    env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": server.url,
           "STORAGE_EMULATOR_HOST": proxy.url, "TAXI_GCS_DEADLINE_SECONDS": str(DEADLINE),
           "TAXI_RETRY_BACKOFF_SECONDS": "0.05", "TAXI_STAGING_DIR": str(tmp_path / "staging")}  # fmt: skip
    started = time.monotonic()
    try:
        result = run_pipeline(pipeline, env, variables, log=tmp_path / "run.log", timeout=LIMIT)
    finally:
        proxy.stop()
        server.stop()
    took = time.monotonic() - started
    print(f"\nSTALLED: {proxy.stalled[:1]}\nSUMMARY ({took:.0f} s): {result.error}")
    return result, proxy, took


def upload_of(folder: str):
    return lambda method, url, body: "/upload/" in url and folder in url + body


def copy_into(folder: str):
    return lambda method, url, body: ("/copyTo/" in url or "/rewriteTo/" in url) and folder in url


YELLOW = ("nyc_taxi_data/yellow_tripdata_2021-01", "nyc_taxi_data_partitioned/",
          "_bigquery/nyc_taxi_data_partitioned/2021-01/")  # fmt: skip


def test_api_to_gcs_with_gcs_frozen_while_staging_the_partitioned_month_changes_no_object(
    twin, tmp_path
):
    assert run_pipeline("api_to_gcs", twin.subprocess_env(), {"month": 1}, timeout=LIMIT).ok
    before = objects(twin, *YELLOW)
    write_month(tmp_path / "served", "yellow", 2021, 1, rows=300, seed=2101)
    result, proxy, took = hostile_run(
        twin, tmp_path, "api_to_gcs", {"month": 1}, tmp_path / "served",
        upload_of("_staging/nyc_taxi_data_partitioned/"),
    )  # fmt: skip
    assert proxy.stalled, "the partitioned upload never reached the frozen endpoint"
    assert not result.ok and "Timed out" not in result.output, result.output[-3000:]
    assert "TAXI_GCS_DEADLINE_SECONDS" in result.error
    assert objects(twin, *YELLOW) == before, "a sink changed behind a failed run"


@pytest.fixture
def green_frozen(twin, tmp_path):
    """``green_frozen(seed, stall)``: after a healthy run of 2020-10, a run of new rows
    (``seed``) with GCS frozen on the requests ``stall`` accepts; it must fail."""

    def run(seed: int, stall):
        write_month(tmp_path / "served", "green", 2020, 10, rows=300, seed=seed)
        result, proxy, _ = hostile_run(
            twin, tmp_path, "green_taxi_etl", {"months": "2020-10"}, tmp_path / "served", stall
        )
        assert proxy.stalled and not result.ok, result.output[-3000:]
        return result

    assert run_pipeline("green_taxi_etl", twin.subprocess_env(), {"months": "2020-10"},
                        timeout=LIMIT).ok  # fmt: skip
    return run


def test_green_taxi_etl_with_gcs_frozen_while_staging_keeps_postgres(twin, tmp_path, green_frozen):
    before = pg_month(twin, "mage.green_taxi", "2020-10"), objects(twin, "green_taxi/")
    result = green_frozen(2010, upload_of("_staging/green_taxi/"))
    assert "TAXI_GCS_DEADLINE_SECONDS" in result.error
    after = pg_month(twin, "mage.green_taxi", "2020-10"), objects(twin, "green_taxi/")
    assert after == before, "Postgres or GCS changed behind a failed run"


def test_green_taxi_etl_frozen_in_the_gcs_commit_names_each_sink_and_the_rerun_converges(
    twin, tmp_path, green_frozen
):
    old_pg = pg_month(twin, "mage.green_taxi", "2020-10")
    result = green_frozen(2011, copy_into("_staging/green_taxi/"))
    bucket = twin.env["GCS_BUCKET"]
    assert result.error.startswith(
        f"The run of 2020-10 failed while committing gs://{bucket}/green_taxi/ (2020-10)"
    ), result.error
    assert (
        "TAXI_GCS_DEADLINE_SECONDS)): Postgres mage.green_taxi (2020-10) holds the new slice"
        in (result.error)
    )
    # the copies stalled before the month's manifest switched: readers still see the old month
    assert f"gs://{bucket}/green_taxi/ (2020-10) keeps the old slice for readers" in result.error
    assert "re-run the pipeline" in result.error and "nothing was changed" not in result.output
    new_pg = pg_month(twin, "mage.green_taxi", "2020-10")
    assert new_pg != old_pg, "the sentence says Postgres holds the new slice"
    # the next run (healthy peers, same files) converges: every sink holds the new month
    server = HostileFileServer(tmp_path / "served", mode="plain").start()
    try:
        env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": server.url}
        again = run_pipeline("green_taxi_etl", env, {"months": "2020-10"}, timeout=LIMIT)
    finally:
        server.stop()
    assert again.ok, again.error
    rows = pg_month(twin, "mage.green_taxi", "2020-10")[0]
    from tests.sinks.sinkkit import kept_rows

    assert rows == kept_rows(tmp_path / "served" / "green" / "green_tripdata_2020-10.csv.gz",
                             "green")  # fmt: skip


def test_green_taxi_etl_with_postgres_frozen_mid_copy_changes_no_sink(twin, tmp_path):
    """Postgres stops answering in the middle of the commit block's COPY (the first commit):
    the run ends within the Postgres deadline and neither Postgres nor GCS changed."""
    from tests.hostile.kit import StallingProxy

    assert run_pipeline("green_taxi_etl", twin.subprocess_env(), {"months": "2020-10"},
                        timeout=LIMIT).ok  # fmt: skip
    before = pg_month(twin, "mage.green_taxi", "2020-10"), objects(twin, "green_taxi/")
    write_month(tmp_path / "served", "green", 2020, 10, rows=2000, seed=2012)
    server = HostileFileServer(tmp_path / "served", mode="plain").start()
    proxy = StallingProxy(("127.0.0.1", int(twin.env["POSTGRES_PORT"])), stall_after=40_000)
    env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": server.url,
           "POSTGRES_PORT": str(proxy.port), "TAXI_POSTGRES_DEADLINE_SECONDS": str(DEADLINE),
           "TAXI_STAGING_DIR": str(tmp_path / "staging")}  # fmt: skip
    try:
        result = run_pipeline("green_taxi_etl", env, {"months": "2020-10"},
                              log=tmp_path / "run.log", timeout=LIMIT)  # fmt: skip
    finally:
        proxy.stop()
        server.stop()
    print(f"\nSUMMARY: {result.error}")
    assert proxy.stalled.is_set() and not result.ok, result.output[-3000:]
    assert "TAXI_POSTGRES_DEADLINE_SECONDS" in result.error and "Timed out" not in result.output
    after = pg_month(twin, "mage.green_taxi", "2020-10"), objects(twin, "green_taxi/")
    assert after == before, "Postgres or GCS changed behind a failed run"


# --- a reader never sees a half-replaced month of the partitioned dataset ----------------------


def read_yellow_month(twin, monkeypatch):
    """Month 2021-01 of nyc_taxi_data_partitioned/ as the project reads it (lake.py), and the
    data objects of the month that a plain listing shows."""
    from mage_project.utils import lake
    from mage_project.utils.manifest import MANIFESTS

    for name, value in twin.env.items():
        monkeypatch.setenv(name, value)
    bucket, prefix = twin.env["GCS_BUCKET"], "nyc_taxi_data_partitioned"
    listed = sorted(
        name[len(prefix) + 1 :]
        for name in objects(twin, f"{prefix}/")
        if name.endswith("/2021-01.parquet") and f"/{MANIFESTS}/" not in name
    )
    return (
        lake.read_month(bucket, prefix, "2021-01"),
        lake.current(bucket, prefix, "2021-01"),
        listed,
    )


def copy_number(n: int, folder: str):
    """Stall the ``n``-th copy of a staged object of ``folder`` into place (and every later one)."""
    count = itertools.count(1)

    def stall(method, url, body) -> bool:
        copy = "/copyTo/" in url or "/rewriteTo/" in url
        return copy and folder in url and next(count) >= n

    return stall


def rerun_converges(twin, tmp_path, monkeypatch) -> None:
    """The next run (healthy peers, the same files) succeeds, readers see its month, and no
    object of another version of the month is left."""
    from tests.sinks.sinkkit import kept_rows

    server = HostileFileServer(tmp_path / "served", mode="plain").start()
    try:
        env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": server.url}
        again = run_pipeline("api_to_gcs", env, {"month": 1}, timeout=LIMIT)
    finally:
        server.stop()
    assert again.ok, again.error
    table, version, listed = read_yellow_month(twin, monkeypatch)
    assert table.num_rows == kept_rows(
        tmp_path / "served" / "yellow" / "yellow_tripdata_2021-01.csv.gz", "yellow"
    )
    assert listed == version.objects, "objects of a superseded or failed version were left"


#: Where GCS freezes in the partitioned dataset's commit, and what readers of its manifest see.
FREEZES = {
    # the second partition's copy into place: the manifest still names the old version (on the
    # old code the first partition was already new: a half-replaced month)
    "between-two-partitions": (
        lambda: copy_number(2, "_staging/nyc_taxi_data_partitioned/"),
        "keeps the old slice for readers",
    ),
    # deleting the superseded version, after the manifest switched
    "after-the-switch": (
        lambda: (
            lambda method, url, body: (
                method == "DELETE" and "/o/nyc_taxi_data_partitioned/tpep" in url
            )
        ),
        "holds the new slice for readers",
    ),
}


@pytest.mark.parametrize("point", FREEZES)
def test_api_to_gcs_frozen_in_the_partitioned_commit_gives_readers_one_whole_month(
    twin, tmp_path, monkeypatch, point
):
    """GCS stops answering inside the partitioned dataset's commit: readers (lake.py) get the
    old month or the new one, whole, the error says which, and the next run converges."""
    from tests.sinks.sinkkit import kept_rows

    stall, says = FREEZES[point]
    assert run_pipeline("api_to_gcs", twin.subprocess_env(), {"month": 1}, timeout=LIMIT).ok
    old_table, old_version, _ = read_yellow_month(twin, monkeypatch)
    served = write_month(tmp_path / "served", "yellow", 2021, 1, rows=300, seed=2102)
    result, proxy, _ = hostile_run(
        twin, tmp_path, "api_to_gcs", {"month": 1}, tmp_path / "served", stall()
    )
    assert proxy.stalled and not result.ok, result.output[-3000:]
    bucket = twin.env["GCS_BUCKET"]
    assert f"gs://{bucket}/nyc_taxi_data_partitioned/ (2021-01) {says}" in result.error, (
        result.error
    )
    table, version, listed = read_yellow_month(twin, monkeypatch)
    if point == "between-two-partitions":
        assert version == old_version and table.equals(old_table), "readers see a changed month"
    else:
        assert version != old_version and table.num_rows == kept_rows(served, "yellow")
    assert set(listed) > set(version.objects), "the other version's objects should be listed"
    rerun_converges(twin, tmp_path, monkeypatch)

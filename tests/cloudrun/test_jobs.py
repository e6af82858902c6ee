"""Every planned Cloud Run job, run as Cloud Run runs it against the stand-ins: as the image's
user, with the planned command and env; it exits 0, lands its rows in Postgres and Cloud
Storage, and its connections are SSL (the stand-in logs every connection: log_connections)."""

from __future__ import annotations

import pytest

from mage_project.utils import lake
from mage_project.utils.ingest import GREEN_PARTITIONED_PREFIX
from tests.cloudrun.checks import assert_connections_used_ssl, assert_runs_as_planned
from tests.cloudrun.harness import planned_containers, start_instance
from tests.infra.infra_plans import planned

pytestmark = [pytest.mark.twin]
JOB_TIMEOUT_S = 300
STACKS = ("dev", "prod")
JOBS = [
    (stack, name)
    for stack in STACKS
    for name in planned_containers(planned(stack))
    # the backfill job only runs with its execution overrides (test_backfill_job.py)
    if name not in ("ui", "backfill")
]


@pytest.fixture(scope="module", params=JOBS, ids=[f"{s}-{n}" for s, n in JOBS])
def job_run(request, cloud_factory, image, tmp_path_factory):
    stack, pipeline = request.param
    cloud = cloud_factory(stack)
    log_mark = len(cloud.sql.authorized_connections())
    instance = start_instance(cloud, pipeline, tmp_path_factory.mktemp("job"), image)
    instance.wait_exec()
    facts = {"ids": instance.proc_ids(), "live": instance}
    assert_runs_as_planned(instance)  # while it runs: /proc is gone afterwards
    instance.wait(JOB_TIMEOUT_S)
    facts["connections"] = cloud.sql.authorized_connections()[log_mark:]
    return cloud, pipeline, instance, facts


def test_job_exits_0(job_run):
    _, pipeline, instance, _ = job_run
    assert instance.returncode == 0, f"{pipeline} exited {instance.returncode}:\n{instance.log()}"


def test_job_lands_rows_in_postgres_and_gcs(job_run, monkeypatch):
    cloud, pipeline, instance, _ = job_run
    assert instance.returncode == 0, instance.log()
    users = cloud.secrets.sql_users()
    taxi = instance.env["POSTGRES_USER"]
    with cloud.sql.connect(taxi, users[taxi], instance.env["POSTGRES_DBNAME"]) as conn:
        (pg_rows,) = conn.execute("SELECT count(*) FROM mage.green_taxi").fetchone()
    # The partitioned dataset as its readers see it: each month through its manifest (lake.py).
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", cloud.twin_urls["gcs"])
    monkeypatch.setenv("GCP_PROJECT_ID", cloud.plan.config["gcp:project"])
    bucket = cloud.plan.outputs["bucket"]
    months = lake.months(bucket, GREEN_PARTITIONED_PREFIX)
    gcs_rows = sum(
        lake.read_month(bucket, GREEN_PARTITIONED_PREFIX, month).num_rows for month in months
    )
    assert pg_rows > 0 and months, f"{pipeline} landed {pg_rows} Postgres rows, months {months}"
    assert gcs_rows == pg_rows, f"Postgres has {pg_rows} rows, Cloud Storage {gcs_rows}"


def test_job_connections_are_ssl(job_run):
    _, _, instance, facts = job_run
    assert_connections_used_ssl(facts["connections"], {instance.env["POSTGRES_USER"]})


def test_job_log_has_no_known_library_notice(job_run):
    """The planned env filters the known grpcio/google-api-core notices (env_contract's
    PYTHONWARNINGS), so a job's log holds what the run did."""
    _, pipeline, instance, _ = job_run
    log = instance.log(200_000)
    for notice in ("does not support Post-Quantum Cryptography", "You are using a Python version"):
        assert notice not in log, f"{pipeline}'s log prints {notice!r}"

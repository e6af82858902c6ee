"""The planned backfill job, started as `make backfill ... CLOUD=1` starts it (the same Run API
request body, ``twin.tasks.run_request``), run as Cloud Run runs an execution: one task per
month, at most the job's parallelism at once, each on a fresh filesystem with its task index.

dev is the strict case: a new stack's project volume is empty until something seeds it, and a
backfill may be the first thing a user starts.
"""

from __future__ import annotations

from datetime import date

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from sqlalchemy.engine import make_url
from twin.samples import generate_sample_data
from twin.tasks import run_request

from tests.cloudrun.harness import ContractError, overridden, planned_containers, run_execution

pytestmark = [pytest.mark.twin]
MONTHS = [date(2021, 1, 1), date(2021, 2, 1)]
PIPELINE = "api_to_gcs"


@pytest.fixture(scope="module")
def execution(cloud_factory, image, twin, tmp_path_factory):
    generate_sample_data(twin.data_dir, months=[("yellow", d.year, d.month) for d in MONTHS])
    cloud = cloud_factory("dev")  # a new stack: nothing has seeded its project volume yet
    config = cloud.plan.config
    _, body = run_request(
        config["gcp:project"], config["gcp:region"], cloud.plan.outputs["backfill_job"],
        PIPELINE, MONTHS, name="contract backfill",
    )  # fmt: skip
    tasks = run_execution(
        cloud, "backfill", tmp_path_factory.mktemp("backfill"), body["overrides"], image
    )
    return cloud, tasks


def test_every_task_of_the_execution_exits_0(execution):
    _, tasks = execution
    for task in tasks:
        assert task.returncode == 0, (
            f"task {task.task.index} (attempt {task.task.attempt}) exited {task.returncode}:\n"
            f"{task.log()}"
        )


def test_each_task_lands_its_own_month(execution):
    cloud, tasks = execution
    assert [t.env["CLOUD_RUN_TASK_INDEX"] for t in tasks] == ["0", "1"]
    for task, month in zip(tasks, MONTHS, strict=True):
        assert f"{month}" in task.log(), task.log()
    client = storage.Client(
        project=cloud.plan.config["gcp:project"],
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=cloud.twin_urls["gcs"]),
    )
    names = {
        b.name for b in client.list_blobs(cloud.plan.outputs["bucket"], prefix="nyc_taxi_data/")
    }
    assert names >= {f"nyc_taxi_data/yellow_tripdata_{d:%Y-%m}.parquet" for d in MONTHS}, names


def test_each_month_is_a_mage_run_of_one_backfill(execution):
    cloud, tasks = execution
    mage_db = make_url(tasks[0].env["MAGE_DATABASE_CONNECTION_URL"])
    with cloud.sql.connect(mage_db.username, mage_db.password, mage_db.database) as conn:
        rows = conn.execute(
            "SELECT b.name, r.status, r.variables::text FROM pipeline_run r "
            "JOIN backfill b ON b.id = r.backfill_id WHERE r.pipeline_uuid = %s",
            (PIPELINE,),
        ).fetchall()
    assert {name for name, _, _ in rows} == {"contract backfill"}, rows
    assert sorted(status.lower() for _, status, _ in rows) == ["completed", "completed"], rows
    assert all(any(str(d) in variables for d in MONTHS) for _, _, variables in rows), rows


def test_the_run_api_overrides_are_applied_as_cloud_run_applies_them(dev_plan):
    planned = planned_containers(dev_plan)["backfill"]
    _, body = run_request("p", "r", "j", PIPELINE, MONTHS, name="n")
    task = overridden(planned, body["overrides"])
    assert task.task_count == len(MONTHS)
    assert task.args == planned.args, "env overrides leave the planned args"
    assert task.env["BACKFILL_PIPELINE"] == PIPELINE
    assert {k: v for k, v in task.env.items() if k in planned.env} == planned.env
    assert overridden(planned, {"containerOverrides": [{"clearArgs": True}]}).args == []
    with pytest.raises(ContractError, match="no execution override"):
        overridden(planned, {"parallelism": 8})  # stack config, not an execution override

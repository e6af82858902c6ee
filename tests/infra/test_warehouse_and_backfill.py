"""The taxi table and the backfill job are the stack's (issue 11): partitioned, clustered, the
schema the pipelines write (one definition), protected in prod; one task per slice."""

from __future__ import annotations

import json

from tools.offline import Plan

from mage_project.utils.image_contract import TASK_RETRIES, task_argv
from mage_project.utils.schema import YELLOW_WAREHOUSE
from tests.infra.infra_plans import planned

TABLE = "gcp:bigquery/table:Table"


def test_the_table_is_partitioned_by_source_month_and_clustered(dev_plan: Plan):
    table = dev_plan.one(TABLE)
    assert (table.inputs["datasetId"], table.inputs["tableId"]) == ("ny_taxi", "yellow_cab_data")
    assert table.inputs["timePartitioning"] == {"type": "MONTH", "field": "source_month_start"}
    assert table.inputs["clusterings"] == ["tpep_pickup_date", "pu_location_id", "vendor_id"]
    fields = [(f["name"], f["type"]) for f in json.loads(table.inputs["schema"])]
    assert fields == YELLOW_WAREHOUSE.columns
    # ... which are exactly the columns of the objects the load job reads from gs:// (pipelines
    # and stack agree).
    from mage_project.utils.warehouse_objects import load_schema

    assert [f.name for f in load_schema(YELLOW_WAREHOUSE)] == [n for n, _ in fields]


def test_the_table_is_protected_in_prod_only(dev_plan: Plan, prod_plan: Plan):
    assert prod_plan.one(TABLE).inputs["deletionProtection"] is True
    assert dev_plan.one(TABLE).inputs["deletionProtection"] is False


def test_the_runtime_account_cannot_create_datasets(dev_plan: Plan):
    """Data editor on the dataset only (issue 8): the pipelines never need datasets.create."""
    runtime = "serviceAccount:" + dev_plan.outputs["runtime_service_account"]
    roles = {r.inputs.get("role") for r in dev_plan.resources if r.inputs.get("member") == runtime}
    assert "roles/bigquery.dataEditor" in roles
    assert not roles & {"roles/bigquery.admin", "roles/bigquery.dataOwner", "roles/bigquery.user"}


def test_backfill_job_runs_the_task_entrypoint_with_retries(dev_plan: Plan):
    job = next(r for r in dev_plan.of_type("gcp:cloudrunv2/job:Job") if r.name == "backfill-job")
    assert job.inputs["name"] == "mage-backfill"
    assert job.get("template", "parallelism") == 4
    assert job.get("template", "template", "maxRetries") == TASK_RETRIES
    container = job.get("template", "template", "containers", 0)
    assert container["commands"] + container["args"] == task_argv()
    assert {e["name"] for e in container["envs"]} >= {"GCS_BUCKET", "BIGQUERY_DATASET"}
    assert dev_plan.outputs["backfill_job"] == "mage-backfill"
    assert not any(
        s.inputs.get("name", "").startswith("mage-backfill")
        for s in dev_plan.of_type("gcp:cloudscheduler/job:Job")
    ), "the backfill job is started on demand, not on a schedule"


def test_backfill_parallelism_is_stack_config():
    plan = planned("dev", (("mage-gcp:backfillParallelism", 2),))
    job = next(r for r in plan.of_type("gcp:cloudrunv2/job:Job") if r.name == "backfill-job")
    assert job.get("template", "parallelism") == 2

"""The hosted Mage remembers (issue 9), at plan level: the job makes Mage pipeline runs, Mage's
secrets key comes from Secret Manager by reference, dev persists UI edits on a Cloud Storage
volume, prod refuses them, and logs and block outputs live in a state bucket with retention."""

from __future__ import annotations

import re

import yaml
from mage_runner.cli import _parser
from tools.offline import Plan

from mage_project.utils.image_contract import REPO_ROOT as REPO
from mage_project.utils.image_contract import RUNNER
from tests.infra.infra_plans import planned

SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
BUCKET = "gcp:storage/bucket:Bucket"


def container(resource) -> dict:
    template = resource.inputs["template"]
    return (template.get("containers") or template["template"]["containers"])[0]


def pod(resource) -> dict:
    template = resource.inputs["template"]
    return template.get("template", template)


def env(resource) -> dict[str, dict]:
    return {e["name"]: e for e in container(resource)["envs"]}


def scheduled_job(plan: Plan):
    """The scheduled pipeline's job (the backfill job has its own entrypoint)."""
    (job,) = [j for j in plan.of_type(JOB) if j.inputs["name"].endswith("-green-taxi-etl")]
    return job


def backfill_job(plan: Plan):
    (job,) = [j for j in plan.of_type(JOB) if j.inputs["name"] == plan.outputs["backfill_job"]]
    return job


def state_bucket(plan: Plan):
    (bucket,) = [b for b in plan.of_type(BUCKET) if b.inputs["name"].endswith("-mage-state")]
    return bucket


def test_the_job_runs_the_pipeline_as_a_mage_run_of_the_cloud_scheduler_trigger(dev_plan: Plan):
    job = container(scheduled_job(dev_plan))
    assert job["commands"] == list(RUNNER)
    args = _parser().parse_args(job["args"])  # the entrypoint accepts exactly these
    assert (args.command, args.project, args.pipeline) == ("run", "mage_project", "green_taxi_etl")
    assert args.trigger == "cloud_scheduler"


def test_the_service_starts_through_the_entrypoint_with_mage_starts_args(stack_plan: Plan):
    service = container(stack_plan.one(SERVICE))
    assert service["commands"] == list(RUNNER)
    args = _parser().parse_args(service["args"])
    assert (args.command, args.project) == ("start", "mage_project")
    assert args.mage_args[0] == "--instance-type"


def test_mages_secrets_key_is_generated_stored_and_injected_by_reference(stack_plan: Plan):
    key = stack_plan.one("random:index/randomBytes:RandomBytes")
    assert key.inputs["length"] == 32
    (secret,) = [
        s
        for s in stack_plan.of_type("gcp:secretmanager/secret:Secret")
        if s.inputs["secretId"].endswith("-secrets-key")
    ]
    for resource in (stack_plan.one(SERVICE), scheduled_job(stack_plan)):
        ref = env(resource)["MAGE_SECRETS_KEY"]
        assert "value" not in ref
        assert ref["valueSource"]["secretKeyRef"]["secret"] == secret.inputs["secretId"]
    runtime = "serviceAccount:" + stack_plan.outputs["runtime_service_account"]
    grants = stack_plan.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
    assert any(
        g.inputs["secretId"] == secret.inputs["secretId"] and g.inputs["member"] == runtime
        for g in grants
    )


def test_prod_refuses_ui_edits_and_runs_the_images_code(prod_plan: Plan):
    for resource in (prod_plan.one(SERVICE), scheduled_job(prod_plan), backfill_job(prod_plan)):
        assert not pod(resource).get("volumes")
        assert not container(resource).get("volumeMounts")
    envs = env(prod_plan.one(SERVICE))
    # 2: pipeline, block and file edits refused; secrets and runs still allowed (Mage 0.9.80).
    assert envs["DISABLE_NOTEBOOK_EDIT_ACCESS"]["value"] == "2"
    assert "MAGE_PROJECT_SEED" not in envs


def test_dev_keeps_ui_edits_on_a_volume_of_the_state_bucket_shared_with_the_jobs(dev_plan: Plan):
    """The service edits the project on the volume; the daily job and the backfill tasks run it."""
    bucket = state_bucket(dev_plan).inputs
    service = dev_plan.one(SERVICE)
    assert "DISABLE_NOTEBOOK_EDIT_ACCESS" not in env(service)
    assert pod(service)["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"  # gcsfuse
    for resource in (service, scheduled_job(dev_plan), backfill_job(dev_plan)):
        (volume,) = pod(resource)["volumes"]
        # mounted as the image's user (the contract layer's volume stand-in enforces it)
        assert volume["gcs"] == {
            "bucket": bucket["name"],
            "mountOptions": ["only-dir=project", "uid=10001", "gid=10001"],
        }
        (mount,) = container(resource)["volumeMounts"]
        assert (mount["name"], mount["mountPath"]) == (volume["name"], "/home/src/mage_project")
        seed = env(resource)["MAGE_PROJECT_SEED"]["value"]
        dockerfile = (REPO / "Dockerfile").read_text()
        assert re.search(rf"^COPY mage_project/ {re.escape(seed)}/$", dockerfile, re.M)
    folders = dev_plan.of_type("gcp:storage/bucketObject:BucketObject")
    assert [f.inputs["name"] for f in folders] == ["project/"]


def test_logs_and_block_outputs_go_to_the_state_bucket_with_retention(stack_plan: Plan):
    bucket = state_bucket(stack_plan).inputs
    assert bucket["publicAccessPrevention"] == "enforced"
    expiry = {
        tuple(r["condition"].get("matchesPrefixes", [])): r["condition"]["age"]
        for r in bucket["lifecycleRules"]
        if r["action"]["type"] == "Delete" and "age" in r["condition"]
    }
    assert expiry == {("logs/",): 30, ("variables/",): 7}
    for resource in (stack_plan.one(SERVICE), scheduled_job(stack_plan)):
        envs = env(resource)
        assert envs["MAGE_STATE_BUCKET"]["value"] == bucket["name"]
        assert envs["MAGE_REMOTE_VARIABLES_DIR"]["value"] == f"gs://{bucket['name']}/variables"
    # The other side of the contract: Mage's project reads exactly these variables.
    metadata = (REPO / "mage_project" / "metadata.yaml").read_text()
    config = yaml.safe_load(metadata)
    assert config["logging_config"]["type"] == "gcs"
    assert "env_var('MAGE_STATE_BUCKET'" in config["logging_config"]["destination_config"]["bucket"]
    assert config["logging_config"]["destination_config"]["prefix"] == "logs"
    assert "env_var('MAGE_REMOTE_VARIABLES_DIR'" in config["remote_variables_dir"]


def test_the_runtime_account_may_read_and_write_the_state_bucket_only_as_needed(dev_plan: Plan):
    runtime = "serviceAccount:" + dev_plan.outputs["runtime_service_account"]
    bucket = state_bucket(dev_plan).inputs["name"]
    roles = {
        g.inputs["role"]
        for g in dev_plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if g.inputs["bucket"] == bucket and g.inputs["member"] == runtime
    }
    # Mage's GCS logger calls buckets.get, which objectAdmin does not grant.
    assert roles == {"roles/storage.objectAdmin", "roles/storage.legacyBucketReader"}


def test_retention_and_edit_model_are_stack_config():
    plan = planned(
        "dev",
        (("mage-gcp:logRetentionDays", "90"), ("mage-gcp:uiEdits", "refuse")),
    )
    rules = state_bucket(plan).inputs["lifecycleRules"]
    assert {"age": 90, "matchesPrefixes": ["logs/"]} in [r["condition"] for r in rules]
    assert env(plan.one(SERVICE))["DISABLE_NOTEBOOK_EDIT_ACCESS"]["value"] == "2"
    assert not pod(plan.one(SERVICE)).get("volumes")

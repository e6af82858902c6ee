"""The program under mocks plans every resource of the brief, wired as intended."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from infra_plans import planned

from infra.testing import Plan

REPO = Path(__file__).resolve().parents[2]

REQUIRED_TYPES = {
    "gcp:cloudrunv2/service:Service": "Cloud Run service (Mage UI)",
    "gcp:cloudrunv2/job:Job": "Cloud Run job (mage run)",
    "gcp:sql/databaseInstance:DatabaseInstance": "Cloud SQL instance",
    "gcp:storage/bucket:Bucket": "GCS lake bucket",
    "gcp:bigquery/dataset:Dataset": "BigQuery dataset",
    "gcp:serviceaccount/account:Account": "service accounts",
    "gcp:secretmanager/secret:Secret": "secrets",
    "gcp:artifactregistry/repository:Repository": "Artifact Registry",
    "gcp:cloudscheduler/job:Job": "Cloud Scheduler",
    "docker-build:index:Image": "image build",
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": "CI WIF",
    "gcp:logging/metric:Metric": "failed-runs metric",
    "gcp:monitoring/alertPolicy:AlertPolicy": "failed-runs alert",
    "gcp:servicenetworking/connection:Connection": "private services access",
}


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["envs"]}


def test_every_resource_of_the_brief_is_planned(stack_plan: Plan):
    missing = [what for t, what in REQUIRED_TYPES.items() if not stack_plan.of_type(t)]
    assert missing == []


def test_components_use_the_project_type_tokens_and_parent_every_resource(stack_plan: Plan):
    components = [r for r in stack_plan.resources if not r.custom]
    assert {r.type.split(":")[0] for r in components} == {"mage-gcp"}
    component_ids = {f"{r.type}::{r.name}" for r in components}
    orphans = [
        r.name
        for r in stack_plan.resources
        if r.custom and r.parent.rsplit("$", 1)[-1] not in component_ids
    ]
    assert orphans == []


def test_stack_outputs(stack_plan: Plan):
    out = stack_plan.outputs
    assert out["ui_url"].startswith("https://")
    assert out["bucket"] == f"{stack_plan.config['gcp:project']}-mage-lake"
    assert out["dataset"] == "ny_taxi"
    assert out["sql_connection_name"].count(":") == 2
    for key in ("runtime_service_account", "scheduler_service_account", "deployer_service_account"):
        assert out[key].endswith(".iam.gserviceaccount.com")
    assert out["image_ref"].endswith("@" + out["image_digest"])
    assert out["pipeline_jobs"] == {"green_taxi_etl": "mage-green-taxi-etl"}
    assert isinstance(out["estimated_idle_monthly_usd"], float)


def test_cloud_sql_settings(dev_plan: Plan, prod_plan: Plan):
    dev = dev_plan.one("gcp:sql/databaseInstance:DatabaseInstance")
    assert dev.get("settings", "tier") == "db-f1-micro"
    assert dev.get("settings", "edition") == "ENTERPRISE"
    assert dev.get("deletionProtection") is False
    prod = prod_plan.one("gcp:sql/databaseInstance:DatabaseInstance")
    assert prod.get("deletionProtection") is True
    assert prod.get("settings", "deletionProtectionEnabled") is True
    assert prod.get("settings", "availabilityType") == "REGIONAL"
    dbs = {r.inputs["name"] for r in dev_plan.of_type("gcp:sql/database:Database")}
    assert dbs == {"mage", "taxi"}


def test_passwords_are_generated_and_stored_in_secret_manager(dev_plan: Plan):
    passwords = {r.name for r in dev_plan.of_type("random:index/randomPassword:RandomPassword")}
    assert len(passwords) == 3
    versions = dev_plan.of_type("gcp:secretmanager/secretVersion:SecretVersion")
    stored = " ".join(str(v.inputs["secretData"]) for v in versions)
    for name in passwords:
        assert f"mock-password-{name}" in stored
    url = next(v for v in versions if "postgresql" in str(v.inputs["secretData"]))
    assert "@10.20.0.3:5432/mage?sslmode=require" in url.inputs["secretData"]


def test_ui_service_cost_mode_vs_always_on(dev_plan: Plan, prod_plan: Plan):
    dev = dev_plan.one("gcp:cloudrunv2/service:Service")
    assert dev.get("template", "scaling") == {"minInstanceCount": 0, "maxInstanceCount": 1}
    assert dev.get("template", "containers", 0, "resources", "cpuIdle") is True
    prod = prod_plan.one("gcp:cloudrunv2/service:Service")
    assert prod.get("template", "scaling", "minInstanceCount") == 1
    assert prod.get("template", "containers", 0, "resources", "cpuIdle") is False
    # A UI that scales to zero runs no scheduler; always-on runs Mage's (UI backfills).
    assert dev.get("template", "containers", 0, "args")[-2:] == ["--instance-type", "web_server"]
    assert prod.get("template", "containers", 0, "args")[-1] == "server_and_scheduler"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cloud_schedules_are_not_doubled_by_mages_scheduler(
    stack: str, dev_plan: Plan, prod_plan: Plan
):
    """The repo's triggers are for the twin (envs: [dev]); the cloud sets ENV=prod, so only
    Cloud Scheduler runs green_taxi_etl there."""
    import yaml

    plan = dev_plan if stack == "dev" else prod_plan
    for resource in (
        plan.one("gcp:cloudrunv2/service:Service"),
        plan.one("gcp:cloudrunv2/job:Job"),
    ):
        containers = (
            resource.inputs["template"].get("containers")
            or resource.inputs["template"]["template"]["containers"]
        )
        envs = {e["name"]: e.get("value") for e in containers[0]["envs"]}
        assert envs["ENV"] == "prod"
    triggers = yaml.safe_load(
        (REPO / "mage_project/pipelines/green_taxi_etl/triggers.yaml").read_text()
    )
    assert all(t["envs"] == ["dev"] for t in triggers["triggers"])
    assert any(s.type == "gcp:cloudscheduler/job:Job" for s in plan.resources)


def test_ui_service_runtime(dev_plan: Plan):
    svc = dev_plan.one("gcp:cloudrunv2/service:Service")
    t = svc.inputs["template"]
    assert t["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"
    assert t["serviceAccount"] == dev_plan.outputs["runtime_service_account"]
    assert t["vpcAccess"]["networkInterfaces"][0]["subnetwork"]
    assert "connector" not in t["vpcAccess"]
    container = t["containers"][0]
    assert container["startupProbe"] and container["livenessProbe"]["httpGet"]["path"]
    env = _env(container)
    assert env["REQUIRE_USER_AUTHENTICATION"]["value"] == "1"
    assert env["DEFAULT_OWNER_PASSWORD"]["valueSource"]["secretKeyRef"]["secret"]
    assert env["DEFAULT_OWNER_EMAIL"]["value"] != "admin@admin.com"
    assert env["MAGE_DATABASE_CONNECTION_URL"]["valueSource"]["secretKeyRef"]["secret"]
    contract = {
        "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DBNAME", "POSTGRES_USER",
        "POSTGRES_PASSWORD", "POSTGRES_SCHEMA", "MAGE_DATABASE_CONNECTION_URL", "GCS_BUCKET",
        "GCP_PROJECT_ID", "GCP_REGION", "BIGQUERY_DATASET", "TAXI_DATA_BASE_URL",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "MAGE_DATA_DIR",
    }  # fmt: skip
    assert contract <= set(env)
    assert "STORAGE_EMULATOR_HOST" not in env and "BIGQUERY_EMULATOR_HOST" not in env


def test_iap_by_default_with_configured_members_only(dev_plan: Plan):
    svc = dev_plan.one("gcp:cloudrunv2/service:Service")
    assert svc.inputs["iapEnabled"] is True
    iap_users = dev_plan.of_type("gcp:iap/webCloudRunServiceIamMember:WebCloudRunServiceIamMember")
    assert [r.inputs["member"] for r in iap_users] == ["user:you@example.com"]
    invokers = dev_plan.of_type("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert [r.inputs["member"] for r in invokers] == [
        "serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com"
    ]


@pytest.mark.parametrize(
    ("access", "members"),
    [("authenticated", ["user:ana@example.com"]), ("public", ["allUsers"])],
)
def test_other_ui_access_modes(access: str, members: list[str]):
    plan = planned("dev", (("mage-gcp:uiAccess", access),
                           ("mage-gcp:uiMembers", json.dumps(["user:ana@example.com"]))))  # fmt: skip
    assert plan.one("gcp:cloudrunv2/service:Service").inputs["iapEnabled"] is False
    invokers = plan.of_type("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert [r.inputs["member"] for r in invokers] == members
    assert not plan.of_type("gcp:projects/serviceIdentity:ServiceIdentity")


def test_pipeline_job_and_daily_schedule(dev_plan: Plan):
    job = dev_plan.one("gcp:cloudrunv2/job:Job")
    container = job.get("template", "template", "containers", 0)
    assert container["commands"] == ["python", "-m", "mage_runner"]
    assert container["args"] == [
        "run", "mage_project", "green_taxi_etl", "--test", "--trigger", "cloud_scheduler",
    ]  # fmt: skip
    assert _env(container)["POSTGRES_PASSWORD"]["valueSource"]["secretKeyRef"]["secret"]
    trigger = dev_plan.one("gcp:cloudscheduler/job:Job")
    assert (trigger.inputs["schedule"], trigger.inputs["timeZone"]) == ("0 5 * * *", "Etc/UTC")
    target = trigger.inputs["httpTarget"]
    assert target["uri"] == (
        "https://run.googleapis.com/v2/projects/my-mage-dev/locations/us-central1/"
        "jobs/mage-green-taxi-etl:run"
    )
    assert (
        target["oauthToken"]["serviceAccountEmail"] == dev_plan.outputs["scheduler_service_account"]
    )
    invoker = dev_plan.one("gcp:cloudrunv2/jobIamMember:JobIamMember")
    assert invoker.inputs["role"] == "roles/run.invoker"
    assert invoker.inputs["name"] == "mage-green-taxi-etl"
    scheduler = "serviceAccount:" + dev_plan.outputs["scheduler_service_account"]
    scheduler_grants = [r for r in dev_plan.resources if r.inputs.get("member") == scheduler]
    assert scheduler_grants == [invoker]


def test_runtime_variables_reach_mage_run():
    schedules = [{"pipeline": "green_taxi_etl", "cron": "0 6 1 * *",
                  "variables": {"year": 2020, "month": 12}}]  # fmt: skip
    plan = planned("dev", (("mage-gcp:schedules", json.dumps(schedules)),))
    args = plan.one("gcp:cloudrunv2/job:Job").get("template", "template", "containers", 0, "args")
    assert args[-2:] == ["--runtime-vars", '{"month": 12, "year": 2020}']
    assert plan.one("gcp:cloudscheduler/job:Job").inputs["schedule"] == "0 6 1 * *"


def test_runtime_account_grants_are_scoped(dev_plan: Plan):
    runtime = "serviceAccount:" + dev_plan.outputs["runtime_service_account"]
    grants = {(r.type.rsplit(":", 1)[1], r.inputs["role"])
              for r in dev_plan.resources if r.inputs.get("member") == runtime}  # fmt: skip
    assert grants == {
        ("IAMMember", "roles/bigquery.jobUser"),
        ("IAMMember", "roles/cloudsql.client"),
        ("BucketIAMMember", "roles/storage.objectAdmin"),
        ("BucketIAMMember", "roles/storage.legacyBucketReader"),  # state bucket (Mage's logger)
        ("DatasetIamMember", "roles/bigquery.dataEditor"),
        ("SecretIamMember", "roles/secretmanager.secretAccessor"),
    }
    secrets = {r.inputs["secretId"] for r in dev_plan.of_type(
        "gcp:secretmanager/secretIamMember:SecretIamMember")}  # fmt: skip
    assert secrets == {
        "mage-taxi-db-password", "mage-metadata-db-url", "mage-owner-password",
        "mage-secrets-key",
    }  # fmt: skip


def test_ci_identity_is_restricted_to_the_configured_repository(dev_plan: Plan):
    provider = dev_plan.one("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    assert provider.inputs["attributeCondition"] == "assertion.repository == 'your-org/mage-gcp'"
    assert provider.get("oidc", "issuerUri") == "https://token.actions.githubusercontent.com"
    wif = dev_plan.one("gcp:serviceaccount/iAMMember:IAMMember")
    assert wif.inputs["member"].endswith("/attribute.repository/your-org/mage-gcp")
    assert wif.inputs["role"] == "roles/iam.workloadIdentityUser"


def test_no_ci_identity_without_a_repository():
    plan = planned("dev", (("mage-gcp:githubRepository", None),))
    assert not plan.of_type("gcp:iam/workloadIdentityPool:WorkloadIdentityPool")
    assert "deployer_service_account" not in plan.outputs


def test_image_is_built_from_this_repo_and_pushed(dev_plan: Plan):
    image = dev_plan.one("docker-build:index:Image")
    assert image.inputs["push"] is True
    assert image.inputs["platforms"] == ["linux/amd64"]
    assert image.inputs["dockerfile"]["location"].endswith("/Dockerfile")
    assert image.inputs["tags"] == ["us-central1-docker.pkg.dev/my-mage-dev/mage/mage-project:dev"]


def _lake(plan: Plan):
    (lake,) = [b for b in plan.of_type("gcp:storage/bucket:Bucket") if b.name == "storage-lake"]
    return lake


def test_lake_bucket_lifecycle(dev_plan: Plan, prod_plan: Plan):
    dev = _lake(dev_plan)
    assert dev.inputs["versioning"] == {"enabled": False}
    assert [r["action"]["type"] for r in dev.inputs["lifecycleRules"]] == [
        "AbortIncompleteMultipartUpload"
    ]
    prod = _lake(prod_plan)
    assert prod.inputs["versioning"] == {"enabled": True}
    assert {"daysSinceNoncurrentTime": 30} in [
        r["condition"] for r in prod.inputs["lifecycleRules"]
    ]


def test_failed_runs_alert(dev_plan: Plan):
    metric = dev_plan.one("gcp:logging/metric:Metric")
    assert 'resource.type="cloud_run_job"' in metric.inputs["filter"]
    policy = dev_plan.one("gcp:monitoring/alertPolicy:AlertPolicy")
    condition = policy.inputs["conditions"][0]["conditionThreshold"]
    assert f"logging.googleapis.com/user/{metric.inputs['name']}" in condition["filter"]
    channels = dev_plan.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert [c.get("labels", "email_address") for c in channels] == ["you@example.com"]
    assert policy.inputs["notificationChannels"] == [f"{channels[0].name}-id"]

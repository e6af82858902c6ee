"""The program under mocks plans every resource of the brief, wired as intended."""

from __future__ import annotations

import json

import pytest
from tools.offline import Plan, PlannedResource

from infra.policy import policy_rules as rules
from mage_project.utils.image_contract import REPO_ROOT as REPO
from mage_project.utils.image_contract import RUNNER
from tests.infra.infra_plans import planned

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
    "gcp:monitoring/alertPolicy:AlertPolicy": "failed-runs and refused-schedule alerts",
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
    assert "estimated_idle_monthly_usd" not in out  # pricing is `make cost`, not `pulumi up`


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
    assert len(passwords) == 4  # two DB users, Mage's owner and Mage's JWT signing key
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
        scheduled_job(plan),
        backfill_job(plan),
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


def scheduled_job(plan: Plan) -> PlannedResource:
    """The Cloud Run job Cloud Scheduler starts for green_taxi_etl."""
    return next(
        r for r in plan.of_type("gcp:cloudrunv2/job:Job") if r.name == "runs-green-taxi-etl"
    )


def backfill_job(plan: Plan) -> PlannedResource:
    return next(r for r in plan.of_type("gcp:cloudrunv2/job:Job") if r.name == "backfill-job")


def test_pipeline_job_and_daily_schedule(dev_plan: Plan):
    job = scheduled_job(dev_plan)
    container = job.get("template", "template", "containers", 0)
    assert container["commands"] == list(RUNNER)
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
    args = scheduled_job(plan).get("template", "template", "containers", 0, "args")
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
        "mage-taxi-db-password",
        "mage-metadata-db-url",
        "mage-owner-password",
        "mage-jwt-secret",
        "mage-secrets-key",
    }


def test_ci_identity_is_restricted_to_the_configured_repository(dev_plan: Plan):
    provider = dev_plan.one("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    assert provider.inputs["attributeCondition"] == (
        "assertion.repository_id == '123456789' && assertion.repository == 'your-org/mage-gcp' "
        "&& ((assertion.sub == 'repo:your-org/mage-gcp:environment:production' "
        "&& assertion.environment == 'production' && assertion.ref == 'refs/heads/main') "
        "|| (assertion.sub == 'repo:your-org/mage-gcp:environment:preview' "
        "&& assertion.environment == 'preview'))"
    )
    assert provider.get("oidc", "issuerUri") == "https://token.actions.githubusercontent.com"
    wif = {
        r.inputs["serviceAccountId"].split("/")[-1].split("@")[0]: r.inputs["member"]
        for r in dev_plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == "roles/iam.workloadIdentityUser"
    }
    assert set(wif) == {"mage-deployer", "mage-ci-preview"}
    assert wif["mage-deployer"].endswith("/subject/repo:your-org/mage-gcp:environment:production")
    assert wif["mage-ci-preview"].endswith("/subject/repo:your-org/mage-gcp:environment:preview")


def _project_roles(plan: Plan, account: str) -> dict[str, dict | None]:
    member = f"serviceAccount:{account}@my-mage-dev.iam.gserviceaccount.com"
    return {
        r.inputs["role"]: r.inputs.get("condition")
        for r in plan.of_type("gcp:projects/iAMMember:IAMMember")
        if r.inputs["member"] == member
    }


def test_deployer_cannot_grant_itself_anything(dev_plan: Plan):
    roles = _project_roles(dev_plan, "mage-deployer")
    for role in ("roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser",
                 "roles/iam.workloadIdentityPoolAdmin", "roles/iam.securityAdmin"):  # fmt: skip
        assert role not in roles
    condition = roles["roles/resourcemanager.projectIamAdmin"]["expression"]
    assert condition == (
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
        ".hasOnly(['roles/bigquery.jobUser', 'roles/cloudsql.client'])"
    )
    act_as = {
        r.inputs["serviceAccountId"].rsplit("/", 1)[-1]
        for r in dev_plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == "roles/iam.serviceAccountUser"
    }
    assert act_as == {
        "mage-runtime@my-mage-dev.iam.gserviceaccount.com",
        "mage-scheduler@my-mage-dev.iam.gserviceaccount.com",
    }


def test_preview_identity_is_read_only(dev_plan: Plan):
    assert _project_roles(dev_plan, "mage-ci-preview") == {}  # tests/infra/test_ci_identities.py
    member = "serviceAccount:mage-ci-preview@my-mage-dev.iam.gserviceaccount.com"
    state = {
        r.inputs["role"]: r.inputs.get("condition")
        for r in dev_plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if r.inputs["member"] == member
    }
    assert set(state) == {
        "roles/storage.objectViewer",
        "roles/storage.legacyBucketReader",
        "roles/storage.objectUser",
    }
    assert state["roles/storage.objectUser"]["expression"] == (
        "resource.name.startsWith('projects/_/buckets/my-mage-dev-pulumi-state/objects/.pulumi/locks/')"
    )


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
    """Cloud Run's built-in failed-executions metric (no log-based metric, so no 404 on the
    first `up`, and no audit-log shape to rely on) for this stack's jobs."""
    assert dev_plan.of_type("gcp:logging/metric:Metric") == []
    policies = {p.name: p for p in dev_plan.of_type("gcp:monitoring/alertPolicy:AlertPolicy")}
    policy = policies["monitoring-failed-runs-policy"]
    (condition,) = policy.inputs["conditions"]
    threshold = condition["conditionThreshold"]
    for part in (
        'resource.type = "cloud_run_job"',
        'resource.labels.job_name = starts_with("mage-")',
        'metric.type = "run.googleapis.com/job/completed_execution_count"',
        'metric.labels.result = "failed"',
    ):
        assert part in threshold["filter"]
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["thresholdValue"] == 0
    assert threshold["aggregations"] == [
        {"alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_SUM"}
    ]
    channels = dev_plan.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert [c.get("labels", "email_address") for c in channels] == ["you@example.com"]
    for policy in policies.values():
        assert policy.inputs["notificationChannels"] == [f"{channels[0].name}-id"]


def test_refused_schedule_alert(dev_plan: Plan):
    """A Cloud Scheduler attempt the job's side refused: a log-match policy (one condition and a
    rate limit) on Scheduler's AttemptFinished entry at ERROR, in the Logging query language."""
    policies = {p.name: p for p in dev_plan.of_type("gcp:monitoring/alertPolicy:AlertPolicy")}
    policy = policies["monitoring-refused-schedules-policy"]
    (condition,) = policy.inputs["conditions"]
    query = condition["conditionMatchedLog"]["filter"]
    assert "starts_with" not in query
    for part in (
        'resource.type="cloud_scheduler_job"',
        'resource.labels.job_id=~"^mage-"',
        '"type.googleapis.com/google.cloud.scheduler.logging.AttemptFinished"',
        "severity>=ERROR",
    ):
        assert part in query
    assert policy.get("alertStrategy", "notificationRateLimit", "period") == "300s"
    schedules = dev_plan.of_type("gcp:cloudscheduler/job:Job")
    assert schedules and all(s.get("name").startswith("mage-") for s in schedules)


def test_cloud_run_env_is_the_contract(stack_plan: Plan):
    """The service and every job set exactly the contract's Cloud Run variables, plus the
    stack kind's edit model (runtime_env.edit_env: dev seeds the project volume, prod refuses
    edits) where the container runs the edited project."""
    from infra.components.runtime_env import edit_env
    from mage_project.utils import env_contract

    edits = set(edit_env(stack_plan.stack == "dev"))
    service = stack_plan.one("gcp:cloudrunv2/service:Service")
    envs = service.get("template", "containers", 0, "envs")
    assert {e["name"] for e in envs} == env_contract.names("cloud", server=True) | edits
    for job in stack_plan.of_type("gcp:cloudrunv2/job:Job"):
        envs = {e["name"] for e in job.get("template", "template", "containers", 0, "envs")}
        mounted = bool(job.get("template", "template", "volumes"))
        assert envs == env_contract.names("cloud") | (edits if mounted else set())


def test_grants_and_channels_are_keyed_by_member_not_position():
    """Removing the first member leaves every other member's grant and channel as it was."""
    import json

    two = (
        ("mage-gcp:uiMembers", json.dumps(["user:a@example.com", "group:b@example.com"])),
        ("mage-gcp:alertEmails", json.dumps(["a@example.com", "b@example.com"])),
    )
    one = (
        ("mage-gcp:uiMembers", json.dumps(["group:b@example.com"])),
        ("mage-gcp:alertEmails", json.dumps(["b@example.com"])),
    )
    kinds = (
        "gcp:iap/webCloudRunServiceIamMember:WebCloudRunServiceIamMember",
        "gcp:monitoring/notificationChannel:NotificationChannel",
    )

    def names(overrides):
        return {
            (r.name, json.dumps(r.inputs, sort_keys=True))
            for r in planned("dev", overrides).of_type(*kinds)
        }

    before, after = names(two), names(one)
    assert len(before) == 4 and len(after) == 2
    assert after <= before
    assert {n for n, _ in after} == {
        "mage-iap-user-group-b-example-com",
        "monitoring-email-b-example-com",
    }


def test_two_members_with_the_same_name_key_are_one_sentence():
    from infra.components.naming import keyed

    with pytest.raises(ValueError, match=r"give the same resource name x-user-a-b"):
        keyed("x", ["user:a.b", "user:a-b"])


def _secret_versions(plan: Plan) -> dict[str, str]:
    """secret_id -> logical name of the SecretVersion that holds its value."""
    by_id = {s.inputs["secretId"]: s.name for s in plan.of_type("gcp:secretmanager/secret:Secret")}
    versions = {
        v.inputs["secret"]: v.name
        for v in plan.of_type("gcp:secretmanager/secretVersion:SecretVersion")
    }
    return {secret_id: versions[f"{name}-id"] for secret_id, name in by_id.items()}


@pytest.mark.parametrize(
    ("type_", "path"),
    [
        ("gcp:cloudrunv2/service:Service", ("template", "containers")),
        ("gcp:cloudrunv2/job:Job", ("template", "template", "containers")),
    ],
)
def test_containers_wait_for_every_secret_version_database_and_user(
    dev_plan: Plan, type_: str, path: tuple[str, ...]
):
    versions = _secret_versions(dev_plan)
    for r in dev_plan.of_type(type_):
        waits_for = {urn.rsplit("::", 1)[-1] for urn in r.dependencies}
        (container,) = r.get(*path)
        read = [
            e["valueSource"]["secretKeyRef"]["secret"]
            for e in container["envs"]
            if "valueSource" in e
        ]
        assert read, r.name
        missing = {versions[s] for s in read} - waits_for
        missing |= {
            f"database-{kind}-{db}" for kind in ("db", "user") for db in ("mage", "taxi")
        } - waits_for
        assert missing == set(), f"{r.name} may start before {sorted(missing)}"


def test_sql_disk_size_is_ignored_after_creation(dev_plan: Plan):
    """disk_autoresize grows the disk; a later `up` must not try to shrink it."""
    sql = dev_plan.one("gcp:sql/databaseInstance:DatabaseInstance")
    assert sql.get("settings", "diskAutoresize") is True
    assert "settings.diskSize" in sql.ignore_changes


def test_ui_gets_a_generated_jwt_secret_by_reference(dev_plan: Plan):
    """Mage's default JWT_SECRET is the public constant 'materia'."""
    service = dev_plan.one("gcp:cloudrunv2/service:Service")
    env = _env(service.get("template", "containers", 0))
    ref = env["JWT_SECRET"]["valueSource"]["secretKeyRef"]["secret"]
    assert "value" not in env["JWT_SECRET"]
    assert ref in _secret_versions(dev_plan)
    password = next(
        r
        for r in dev_plan.of_type("random:index/randomPassword:RandomPassword")
        if r.name == "mage-jwt-secret"
    )
    assert password.inputs["length"] >= 32


def test_a_project_without_an_organization_gets_invoker_only_access():
    """IAP admits only the organization's users; without one: run.invoker for the members
    (opened with `gcloud run services proxy`), Mage's login still required, nothing public."""
    plan = planned("dev", (("mage-gcp:projectInOrganization", "false"),
                           ("mage-gcp:uiAccess", "authenticated")))  # fmt: skip
    service = plan.one("gcp:cloudrunv2/service:Service")
    assert service.inputs["iapEnabled"] is False
    env = _env(service.get("template", "containers", 0))
    assert env["REQUIRE_USER_AUTHENTICATION"]["value"] == "1"
    assert "valueSource" in env["DEFAULT_OWNER_PASSWORD"]
    invokers = plan.of_type("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert [(r.inputs["role"], r.inputs["member"]) for r in invokers] == [
        ("roles/run.invoker", "user:you@example.com")
    ]
    assert rules.plan_violations(plan.resources) == {}

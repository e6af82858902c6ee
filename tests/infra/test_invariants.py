"""Every security invariant holds for the committed stacks, and each one can fail."""

from __future__ import annotations

import json

import pytest
from infra_plans import mutated, planned

from infra import invariants
from infra.planned import PlannedResource
from infra.testing import Plan

SQL = "gcp:sql/databaseInstance:DatabaseInstance"
SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"


def test_all_invariants_hold(stack_plan: Plan):
    assert invariants.violations(stack_plan.resources) == {}


def _ip(i):
    return i["settings"]["ipConfiguration"]


def _env(i):
    return i["template"]["containers"][0]["envs"]


def _container(i):
    return i["template"]["containers"][0]


def _plain_password(i):
    env = next(e for e in _env(i) if e["name"] == "POSTGRES_PASSWORD")
    env.pop("valueSource")
    env["value"] = "hunter2"


def _password_in_other_env(i):
    _env(i).append({"name": "EXTRA", "value": "x mock-password-database-taxi-password y"})


def _add(type_: str, **inputs) -> list[PlannedResource]:
    return [PlannedResource(type_, "injected", inputs, "", True)]


# (invariant, description, type to mutate or None to append, mutation or appended resources)
VIOLATIONS = [
    ("sql_private_ip_only", "public IPv4", SQL, lambda i: _ip(i).update(ipv4Enabled=True)),
    ("sql_private_ip_only", "no private net", SQL, lambda i: _ip(i).pop("privateNetwork")),
    ("sql_private_ip_only", "authorized network", SQL,
     lambda i: _ip(i).update(authorizedNetworks=[{"value": "0.0.0.0/0"}])),
    ("sql_ssl_required", "ssl allowed", SQL,
     lambda i: _ip(i).update(sslMode="ALLOW_UNENCRYPTED_AND_ENCRYPTED")),
    ("sql_backups_on", "backups off", SQL,
     lambda i: i["settings"]["backupConfiguration"].update(enabled=False)),
    ("sql_backups_on", "pitr off", SQL,
     lambda i: i["settings"]["backupConfiguration"].update(pointInTimeRecoveryEnabled=False)),
    ("bucket_private", "fine-grained ACLs", "gcp:storage/bucket:Bucket",
     lambda i: i.update(uniformBucketLevelAccess=False)),
    ("bucket_private", "public prevention inherited", "gcp:storage/bucket:Bucket",
     lambda i: i.update(publicAccessPrevention="inherited")),
    ("bucket_private", "bucket ACL", None,
     _add("gcp:storage/bucketACL:BucketACL", bucket="b", predefinedAcl="publicRead")),
    ("no_public_members", "allUsers on bucket", "gcp:storage/bucketIAMMember:BucketIAMMember",
     lambda i: i.update(member="allUsers")),
    ("no_public_members", "allAuthenticatedUsers on dataset",
     "gcp:bigquery/datasetIamMember:DatasetIamMember",
     lambda i: i.update(member="allAuthenticatedUsers")),
    ("no_public_members", "allUsers on secret via binding", None,
     _add("gcp:secretmanager/secretIamBinding:SecretIamBinding", secretId="s",
          role="roles/secretmanager.secretAccessor", members=["allUsers"])),
    ("no_public_members", "allUsers in a policy", None,
     _add("gcp:storage/bucketIAMPolicy:BucketIAMPolicy", bucket="b", policyData=json.dumps(
         {"bindings": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]}))),
    ("no_public_members", "allUsers invoker on the UI",
     "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", lambda i: i.update(member="allUsers")),
    ("no_basic_roles", "editor on project", "gcp:projects/iAMMember:IAMMember",
     lambda i: i.update(role="roles/editor")),
    ("no_basic_roles", "owner in a binding", None,
     _add("gcp:projects/iAMBinding:IAMBinding", project="p", role="roles/owner",
          members=["user:x@example.com"])),
    ("no_service_account_keys", "SA key", None,
     _add("gcp:serviceaccount/key:Key", serviceAccountId="sa")),
    ("no_service_account_keys", "HMAC key", None,
     _add("gcp:storage/hmacKey:HmacKey", serviceAccountEmail="sa@x")),
    ("no_plain_secret_env", "password as plain env", SERVICE, _plain_password),
    ("no_plain_secret_env", "password in a job env", JOB,
     lambda i: _env(i["template"]).append({"name": "DB_PASSWORD", "value": "x"})),
    ("no_plain_secret_env", "secret value under an innocent name", SERVICE,
     _password_in_other_env),
    ("images_pinned_by_digest", "tag on service", SERVICE,
     lambda i: i["template"]["containers"][0].update(image="mageai/mageai:latest")),
    ("images_pinned_by_digest", "tag on job", JOB,
     lambda i: i["template"]["template"]["containers"][0].update(image="repo/mage:dev")),
    ("one_ui_instance", "two instances", SERVICE,
     lambda i: i["template"]["scaling"].update(maxInstanceCount=2)),
    ("one_ui_instance", "no limit", SERVICE, lambda i: i["template"]["scaling"].pop("maxInstanceCount")),
    ("runtime_data_scoped", "project-wide objectAdmin", "gcp:projects/iAMMember:IAMMember",
     # (the plan's order is not fixed, so make the grant the runtime account's explicitly)
     lambda i: i.update(role="roles/storage.objectAdmin",
                        member="serviceAccount:mage-runtime@my-mage-dev.iam.gserviceaccount.com")),
    ("wif_restricted", "any repository",
     "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
     lambda i: i.update(attributeCondition="assertion.repository_owner != ''")),
    # The old provider: by name only, any workflow of the repository.
    ("wif_restricted", "name only",
     "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
     lambda i: i.update(attributeCondition="assertion.repository == 'your-org/mage-gcp'")),
    ("wif_restricted", "every workflow of the repository", "gcp:serviceaccount/iAMMember:IAMMember",
     lambda i: i.update(role="roles/iam.workloadIdentityUser", member="principalSet://iam."
                        "googleapis.com/projects/1/locations/global/workloadIdentityPools/p/"
                        "attribute.repository/your-org/mage-gcp")),
    # The old deployer roles.
    ("no_self_granting", "project IAM admin", "gcp:projects/iAMMember:IAMMember",
     lambda i: i.update(role="roles/resourcemanager.projectIamAdmin", condition=None)),
    ("no_self_granting", "SA admin", "gcp:projects/iAMMember:IAMMember",
     lambda i: i.update(role="roles/iam.serviceAccountAdmin")),
    ("no_self_granting", "actAs any account", "gcp:projects/iAMMember:IAMMember",
     lambda i: i.update(role="roles/iam.serviceAccountUser")),
    # The plan of the old code: a TCP startup probe allowing 30 x 10 s = 300 s.
    ("startup_probe_within_cloud_run_limits", "300 s budget", SERVICE,
     lambda i: _container(i)["startupProbe"].update(failureThreshold=30, periodSeconds=10)),
    ("startup_probe_within_cloud_run_limits", "tcp probe", SERVICE,
     lambda i: _container(i).update(startupProbe={"tcpSocket": {"port": 6789}})),
    ("startup_probe_within_cloud_run_limits", "no probe", SERVICE,
     lambda i: _container(i).pop("startupProbe")),
    ("startup_probe_within_cloud_run_limits", "initial delay 300", SERVICE,
     lambda i: _container(i)["startupProbe"].update(initialDelaySeconds=300)),
    ("run_cpu_memory_in_table", "1 vCPU with 8Gi", SERVICE,
     lambda i: _container(i)["resources"]["limits"].update(cpu="1", memory="8Gi")),
    ("run_cpu_memory_in_table", "4 vCPU with 1Gi on a job", JOB,
     lambda i: i["template"]["template"]["containers"][0]["resources"]["limits"].update(
         cpu="4", memory="1Gi")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("check", "what", "type_", "change"), VIOLATIONS, ids=[f"{c}-{w}" for c, w, *_ in VIOLATIONS]
)
def test_each_invariant_reports_a_violating_variant(dev_plan: Plan, check, what, type_, change):
    clean = dev_plan.resources
    assert invariants.CHECKS[check](clean) == []
    bad = clean + change if type_ is None else mutated(clean, type_, change)
    found = invariants.CHECKS[check](bad)
    assert len(found) >= 1
    assert all(isinstance(s, str) and s.endswith(".") for s in found)
    assert check in invariants.violations(bad)


def test_every_invariant_has_a_violating_variant():
    assert {c for c, *_ in VIOLATIONS} == set(invariants.CHECKS)


def test_public_ui_config_is_flagged_unless_explicitly_allowed():
    plan = planned("dev", (("mage-gcp:uiAccess", "public"),))
    assert invariants.no_public_members(plan.resources) == [
        "mage-invoker-0 grants roles/run.invoker to allUsers."
    ]
    assert invariants.violations(plan.resources, allow_public_ui=True) == {}


def test_policy_pack_rules_agree_with_the_plan(stack_plan: Plan):
    """The CrossGuard rules (infra/policy) find nothing in what the program plans."""
    policy_rules = pytest.importorskip("infra.policy.policy_rules")
    found = {
        r.name: v for r in stack_plan.resources if (v := policy_rules.violations(r.type, r.inputs))
    }
    assert found == {}


@pytest.mark.parametrize(
    ("cpu", "memory", "ok"),
    [("1", "512Mi", True), ("1", "4Gi", True), ("1", "5Gi", False), ("2", "8Gi", True),
     ("2", "16Gi", False), ("4", "1Gi", False), ("4", "16Gi", True), ("8", "32Gi", True),
     ("3", "4Gi", False), ("1", "2GB", False)],
)  # fmt: skip
def test_cpu_memory_table(cpu: str, memory: str, ok: bool):
    assert (invariants.cpu_memory_problem(cpu, memory) is None) is ok

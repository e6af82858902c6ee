"""Every security rule (infra/policy/policy_rules.py, the rules the policy pack enforces) holds
for the committed stacks, and each one can fail."""

from __future__ import annotations

import json

import pytest
from tools.offline import Plan, PlannedResource

from infra.policy import policy_rules as rules
from tests.infra.infra_plans import mutated, planned

SQL = "gcp:sql/databaseInstance:DatabaseInstance"
SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"


def test_all_invariants_hold(stack_plan: Plan):
    assert rules.plan_violations(stack_plan.resources) == {}


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
    ("cloudsql-no-public-ip", "public IPv4", SQL, lambda i: _ip(i).update(ipv4Enabled=True)),
    ("cloudsql-no-public-ip", "no private net", SQL, lambda i: _ip(i).pop("privateNetwork")),
    ("cloudsql-no-public-ip", "authorized network", SQL,
     lambda i: _ip(i).update(authorizedNetworks=[{"value": "0.0.0.0/0"}])),
    ("cloudsql-ssl-required", "ssl allowed", SQL,
     lambda i: _ip(i).update(sslMode="ALLOW_UNENCRYPTED_AND_ENCRYPTED")),
    ("cloudsql-backups-and-pitr", "backups off", SQL,
     lambda i: i["settings"]["backupConfiguration"].update(enabled=False)),
    ("cloudsql-backups-and-pitr", "pitr off", SQL,
     lambda i: i["settings"]["backupConfiguration"].update(pointInTimeRecoveryEnabled=False)),
    ("bucket-uniform-access-and-public-access-prevention", "fine-grained ACLs", "gcp:storage/bucket:Bucket",
     lambda i: i.update(uniformBucketLevelAccess=False)),
    ("bucket-uniform-access-and-public-access-prevention", "public prevention inherited", "gcp:storage/bucket:Bucket",
     lambda i: i.update(publicAccessPrevention="inherited")),
    ("bucket-uniform-access-and-public-access-prevention", "bucket ACL", None,
     _add("gcp:storage/bucketACL:BucketACL", bucket="b", predefinedAcl="publicRead")),
    ("no-public-members", "allUsers on bucket", "gcp:storage/bucketIAMMember:BucketIAMMember",
     lambda i: i.update(member="allUsers")),
    ("no-public-members", "allAuthenticatedUsers on dataset",
     "gcp:bigquery/datasetIamMember:DatasetIamMember",
     lambda i: i.update(member="allAuthenticatedUsers")),
    ("no-public-members", "allUsers on secret via binding", None,
     _add("gcp:secretmanager/secretIamBinding:SecretIamBinding", secretId="s",
          role="roles/secretmanager.secretAccessor", members=["allUsers"])),
    ("no-public-members", "allUsers in a policy", None,
     _add("gcp:storage/bucketIAMPolicy:BucketIAMPolicy", bucket="b", policyData=json.dumps(
         {"bindings": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]}))),
    ("no-public-members", "allUsers invoker on the UI",
     "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", lambda i: i.update(member="allUsers")),
    ("no-editor-or-owner-roles", "editor on project", "gcp:projects/iAMMember:IAMMember",
     lambda i: i.update(role="roles/editor")),
    ("no-editor-or-owner-roles", "owner in a binding", None,
     _add("gcp:projects/iAMBinding:IAMBinding", project="p", role="roles/owner",
          members=["user:x@example.com"])),
    ("no-service-account-keys", "SA key", None,
     _add("gcp:serviceaccount/key:Key", serviceAccountId="sa")),
    ("no-service-account-keys", "HMAC key", None,
     _add("gcp:storage/hmacKey:HmacKey", serviceAccountEmail="sa@x")),
    ("no-plain-secret-env-vars", "password as plain env", SERVICE, _plain_password),
    ("no-plain-secret-env-vars", "password in a job env", JOB,
     lambda i: _env(i["template"]).append({"name": "DB_PASSWORD", "value": "x"})),
    ("no-stored-secret-in-env", "secret value under an innocent name", SERVICE,
     _password_in_other_env),
    ("cloud-run-image-pinned-by-digest", "tag on service", SERVICE,
     lambda i: i["template"]["containers"][0].update(image="mageai/mageai:latest")),
    ("cloud-run-image-pinned-by-digest", "tag on job", JOB,
     lambda i: i["template"]["template"]["containers"][0].update(image="repo/mage:dev")),
    ("mage-ui-single-instance", "two instances", SERVICE,
     lambda i: i["template"]["scaling"].update(maxInstanceCount=2)),
    ("mage-ui-single-instance", "no limit", SERVICE, lambda i: i["template"]["scaling"].pop("maxInstanceCount")),
    ("mage-ui-single-instance", "per revision only", SERVICE, lambda i: i.pop("scaling")),
    ("cloud-run-secret-versions-pinned", "latest on service", SERVICE,
     lambda i: _env(i)[-1]["valueSource"]["secretKeyRef"].update(version="latest")),
    ("cloud-run-secret-versions-pinned", "latest on job", JOB,
     lambda i: _env(i["template"])[-1]["valueSource"]["secretKeyRef"].update(version="latest")),
    ("runtime-data-roles-scoped", "project-wide objectAdmin", "gcp:projects/iAMMember:IAMMember",
     # (the plan's order is not fixed, so make the grant the runtime account's explicitly)
     lambda i: i.update(role="roles/storage.objectAdmin",
                        member="serviceAccount:mage-runtime@my-mage-dev.iam.gserviceaccount.com")),
    ("wif-one-repository", "any repository",
     "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
     lambda i: i.update(attributeCondition="assertion.repository_owner != ''")),
    # The old provider: by name only, any workflow of the repository.
    ("wif-one-repository", "name only",
     "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
     lambda i: i.update(attributeCondition="assertion.repository == 'your-org/mage-gcp'")),
    ("wif-one-repository", "every workflow of the repository", "gcp:serviceaccount/iAMMember:IAMMember",
     lambda i: i.update(role="roles/iam.workloadIdentityUser", member="principalSet://iam."
                        "googleapis.com/projects/1/locations/global/workloadIdentityPools/p/"
                        "attribute.repository/your-org/mage-gcp")),
    # The old deployer roles.
    ("no-self-granting", "project IAM admin", "gcp:projects/iAMMember:IAMMember",
     lambda i: i.update(role="roles/resourcemanager.projectIamAdmin", condition=None)),
    ("no-self-granting", "SA admin", "gcp:projects/iAMMember:IAMMember",
     lambda i: i.update(role="roles/iam.serviceAccountAdmin")),
    ("no-self-granting", "actAs any account", "gcp:projects/iAMMember:IAMMember",
     lambda i: i.update(role="roles/iam.serviceAccountUser")),
    # The plan of the old code: a TCP startup probe allowing 30 x 10 s = 300 s.
    ("cloud-run-startup-probe-within-limits", "300 s budget", SERVICE,
     lambda i: _container(i)["startupProbe"].update(failureThreshold=30, periodSeconds=10)),
    ("cloud-run-startup-probe-within-limits", "tcp probe", SERVICE,
     lambda i: _container(i).update(startupProbe={"tcpSocket": {"port": 6789}})),
    ("cloud-run-startup-probe-within-limits", "no probe", SERVICE,
     lambda i: _container(i).pop("startupProbe")),
    ("cloud-run-startup-probe-within-limits", "initial delay 300", SERVICE,
     lambda i: _container(i)["startupProbe"].update(initialDelaySeconds=300)),
    ("cloud-run-cpu-memory-in-table", "1 vCPU with 8Gi", SERVICE,
     lambda i: _container(i)["resources"]["limits"].update(cpu="1", memory="8Gi")),
    ("cloud-run-cpu-memory-in-table", "4 vCPU with 1Gi on a job", JOB,
     lambda i: i["template"]["template"]["containers"][0]["resources"]["limits"].update(
         cpu="4", memory="1Gi")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("check", "what", "type_", "change"), VIOLATIONS, ids=[f"{c}-{w}" for c, w, *_ in VIOLATIONS]
)
def test_each_invariant_reports_a_violating_variant(dev_plan: Plan, check, what, type_, change):
    clean = dev_plan.resources
    assert check not in rules.plan_violations(clean)
    bad = clean + change if type_ is None else mutated(clean, type_, change)
    found = rules.plan_violations(bad)
    assert len(found.get(check, [])) >= 1
    assert all(isinstance(s, str) and s.endswith(".") for s in found[check])
    assert set(found) == {check}, f"an unrelated rule also fired: {set(found) - {check}}"


def test_every_invariant_has_a_violating_variant():
    assert {c for c, *_ in VIOLATIONS} == set(rules.RULES) | set(rules.STACK_RULES)


def test_public_ui_config_is_flagged_unless_explicitly_allowed():
    plan = planned("dev", (("mage-gcp:uiAccess", "public"),))
    found = rules.plan_violations(plan.resources)
    assert list(found) == ["no-public-members"] and len(found["no-public-members"]) == 1
    assert found["no-public-members"][0].startswith("mage-invoker-")
    assert "ServiceIamMember grants access to allUsers" in found["no-public-members"][0]
    assert rules.plan_violations(plan.resources, allow_public_ui=True) == {}


def test_policy_pack_enforces_exactly_the_rules_tested_here():
    """The pack builds one policy per rule of the one module this file asserts."""
    from infra.policy import policy_pack

    assert {p.name for p in policy_pack.build_policies()} == set(rules.RULES) | set(
        rules.STACK_RULES
    )


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
    assert (rules.cpu_memory_problem(cpu, memory) is None) is ok

"""Every security invariant holds for the committed stacks, and each one can fail."""

from __future__ import annotations

import json

import pytest
from infra_plans import mutated, planned
from tools.offline import Plan, PlannedResource

from infra import invariants

SQL = "gcp:sql/databaseInstance:DatabaseInstance"
SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"


def test_all_invariants_hold(stack_plan: Plan):
    assert invariants.violations(stack_plan.resources) == {}


def _ip(i):
    return i["settings"]["ipConfiguration"]


def _env(i):
    return i["template"]["containers"][0]["envs"]


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

"""The CrossGuard policy pack (infra/policy): every policy passes a compliant resource and reports
a violating one, through the real ResourceValidationPolicy objects and through the gRPC analyzer
that `pulumi preview --policy-pack infra/policy` talks to."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyResource, PolicyResourceOptions
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from infra.policy import policy_pack
from infra.policy import policy_rules as r
from mage_project.utils.image_contract import REPO_ROOT

PACK_DIR = REPO_ROOT / "infra" / "policy"

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"us-central1-docker.pkg.dev/p/mage/mage@{DIGEST}"
SECRET_ENV = {
    "name": "POSTGRES_PASSWORD",
    "valueSource": {"secretKeyRef": {"secret": "db-password", "version": "3"}},
}

COMPLIANT: dict[str, tuple[str, dict[str, Any]]] = {
    "sql": (
        r.SQL_INSTANCE,
        {
            "databaseVersion": "POSTGRES_16",
            "settings": {
                "tier": "db-f1-micro",
                "ipConfiguration": {
                    "ipv4Enabled": False,
                    "privateNetwork": "projects/p/global/networks/mage",
                    "sslMode": "ENCRYPTED_ONLY",
                },
                "backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True},
            },
        },
    ),
    "bucket": (
        r.BUCKET,
        {
            "location": "US-CENTRAL1",
            "uniformBucketLevelAccess": True,
            "publicAccessPrevention": "enforced",
        },
    ),
    "bucket_member": (
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        {
            "bucket": "lake",
            "role": "roles/storage.objectAdmin",
            "member": "serviceAccount:run@p.iam.gserviceaccount.com",
        },
    ),
    "project_member": (
        "gcp:projects/iAMMember:IAMMember",
        {
            "project": "p",
            "role": "roles/cloudsql.client",
            "member": "serviceAccount:run@p.iam.gserviceaccount.com",
        },
    ),
    "dataset": (
        r.BQ_DATASET,
        {"datasetId": "ny_taxi", "accesses": [{"role": "OWNER", "specialGroup": "projectOwners"}]},
    ),
    "service": (
        r.RUN_SERVICE,
        {
            "scaling": {"maxInstanceCount": 1},
            "template": {
                "scaling": {"minInstanceCount": 0, "maxInstanceCount": 1},
                "containers": [
                    {
                        "image": IMAGE,
                        "envs": [
                            {"name": "GCS_BUCKET", "value": "lake"},
                            {"name": "PRIMARY_KEYS_DIR", "value": "/tmp"},
                            SECRET_ENV,
                        ],
                        "startupProbe": {"httpGet": {"path": "/api/status"}, "periodSeconds": 10},
                    }
                ],
            },
        },
    ),
    "job": (
        r.RUN_JOB,
        {
            "template": {
                "template": {
                    "containers": [{"image": IMAGE, "args": ["run"], "envs": [SECRET_ENV]}]
                }
            }
        },
    ),
}

# (policy, resource from COMPLIANT, change that breaks it, words the violation must contain)
Mutation = Callable[[dict[str, Any]], None]
VIOLATIONS: list[tuple[str, str, Mutation, str]] = [
    ("cloudsql-no-public-ip", "sql", lambda p: p["settings"]["ipConfiguration"].update(ipv4Enabled=True), "public IP"),
    ("cloudsql-no-public-ip", "sql", lambda p: p["settings"]["ipConfiguration"].pop("ipv4Enabled"), "public IP"),
    ("cloudsql-no-public-ip", "sql", lambda p: p["settings"]["ipConfiguration"].update(authorizedNetworks=[{"value": "0.0.0.0/0"}]), "authorizedNetworks"),
    ("cloudsql-ssl-required", "sql", lambda p: p["settings"]["ipConfiguration"].update(sslMode="ALLOW_UNENCRYPTED_AND_ENCRYPTED"), "unencrypted"),
    ("cloudsql-ssl-required", "sql", lambda p: p["settings"]["ipConfiguration"].pop("sslMode"), "sslMode"),
    ("cloudsql-backups-and-pitr", "sql", lambda p: p["settings"].pop("backupConfiguration"), "backups are off"),
    ("cloudsql-backups-and-pitr", "sql", lambda p: p["settings"]["backupConfiguration"].update(pointInTimeRecoveryEnabled=False), "point-in-time"),
    ("bucket-uniform-access-and-public-access-prevention", "bucket", lambda p: p.update(uniformBucketLevelAccess=False), "uniformBucketLevelAccess"),
    ("bucket-uniform-access-and-public-access-prevention", "bucket", lambda p: p.update(publicAccessPrevention="inherited"), "publicAccessPrevention"),
    ("no-public-members", "bucket_member", lambda p: p.update(member="allUsers"), "allUsers"),
    ("no-public-members", "project_member", lambda p: p.update(member="allAuthenticatedUsers"), "allAuthenticatedUsers"),
    ("no-public-members", "dataset", lambda p: p["accesses"].append({"role": "READER", "specialGroup": "allAuthenticatedUsers"}), "allAuthenticatedUsers"),
    ("no-editor-or-owner-roles", "project_member", lambda p: p.update(role="roles/editor"), "roles/editor"),
    ("no-editor-or-owner-roles", "bucket_member", lambda p: p.update(role="roles/owner"), "roles/owner"),
    ("no-plain-secret-env-vars", "service", lambda p: p["template"]["containers"][0]["envs"].append({"name": "MAGE_DATABASE_CONNECTION_URL", "value": "postgresql://u:pw@10.0.0.3/mage"}), "MAGE_DATABASE_CONNECTION_URL"),
    ("no-plain-secret-env-vars", "job", lambda p: p["template"]["template"]["containers"][0]["envs"].append({"name": "api_token", "value": "t"}), "api_token"),
    ("cloud-run-image-pinned-by-digest", "service", lambda p: p["template"]["containers"][0].update(image="mageai/mageai:0.9.80"), "not pinned by digest"),
    ("cloud-run-image-pinned-by-digest", "job", lambda p: p["template"]["template"]["containers"][0].update(image="repo/mage:latest"), "not pinned by digest"),
    ("mage-ui-single-instance", "service", lambda p: p["template"]["scaling"].pop("maxInstanceCount"), "maxInstanceCount"),
    ("mage-ui-single-instance", "service", lambda p: p["template"]["scaling"].update(maxInstanceCount=3), "maxInstanceCount to 1"),
    ("mage-ui-single-instance", "service", lambda p: p.update(scaling={"maxInstanceCount": 1, "minInstanceCount": 2}), "minInstanceCount=2"),
    ("mage-ui-single-instance", "service", lambda p: p.pop("scaling"), "service-level limit"),
    ("cloud-run-secret-versions-pinned", "job", lambda p: p["template"]["template"]["containers"][0]["envs"][0]["valueSource"]["secretKeyRef"].update(version="latest"), "reads secret version 'latest'"),
]  # fmt: skip


def _built(kind: type) -> dict:
    return {p.name: p for p in policy_pack.build_policies() if isinstance(p, kind)}


@pytest.fixture(scope="module")
def policies() -> dict[str, ResourceValidationPolicy]:
    return _built(ResourceValidationPolicy)


@pytest.fixture(scope="module")
def stack_policies() -> dict[str, StackValidationPolicy]:
    return _built(StackValidationPolicy)


def run_policy(
    policy: ResourceValidationPolicy,
    resource_type: str,
    props: dict[str, Any],
    config: dict[str, Any] | None = None,
) -> list[str]:
    """Call the policy's real validate callback the way the analyzer does; return the messages."""
    reported: list[str] = []
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(copy.deepcopy(props)),
        f"urn:pulumi:dev::mage-gcp::{resource_type}::test",
        "test",
        PolicyResourceOptions(False, [], None, [], None, [], None),
        None,
        config,
    )
    policy.validate(args, lambda message, urn=None: reported.append(message))
    return reported


def test_every_rule_is_a_mandatory_policy_with_a_description(policies, stack_policies):
    assert set(policies) == set(r.RULES)
    assert set(stack_policies) == set(r.STACK_RULES)
    assert len(policies) == 16 and len(stack_policies) == 1
    for policy in [*policies.values(), *stack_policies.values()]:
        assert policy.enforcement_level == EnforcementLevel.MANDATORY
        assert policy.description and not policy.description.startswith("check_")


@pytest.mark.parametrize("resource", sorted(COMPLIANT))
def test_compliant_resources_pass_every_policy(policies, resource):
    resource_type, props = COMPLIANT[resource]
    for policy in policies.values():
        assert run_policy(policy, resource_type, props) == [], policy.name


@pytest.mark.parametrize(
    ("policy_name", "resource", "mutate", "expected"),
    VIOLATIONS,
    ids=[f"{v[0]}-{v[1]}-{i}" for i, v in enumerate(VIOLATIONS)],
)
def test_violating_variant_is_reported(policies, policy_name, resource, mutate, expected):
    resource_type, compliant = COMPLIANT[resource]
    props = copy.deepcopy(compliant)
    mutate(props)
    messages = run_policy(policies[policy_name], resource_type, props)
    assert messages, f"{policy_name} missed the violation"
    assert any(expected in m for m in messages), messages
    others = {
        n for n, p in policies.items() if n != policy_name and run_policy(p, resource_type, props)
    }
    assert others == set(), f"an unrelated policy also fired: {others}"


def test_every_policy_has_a_violating_variant():
    tested_below = {"no-service-account-keys", "runtime-data-roles-scoped", "wif-one-repository"}
    # and on violating variants of the plan in test_invariants.py:
    tested_below |= {
        "no-self-granting",
        "cloud-run-startup-probe-within-limits",
        "cloud-run-cpu-memory-in-table",
    }
    assert {v[0] for v in VIOLATIONS} | tested_below == set(r.RULES)


def test_service_account_keys_are_always_reported(policies):
    messages = run_policy(policies["no-service-account-keys"], r.SA_KEY, {"serviceAccountId": "sa"})
    assert messages and "Workload Identity Federation" in messages[0]
    assert (
        run_policy(
            policies["no-service-account-keys"],
            "gcp:serviceaccount/account:Account",
            {"accountId": "sa"},
        )
        == []
    )


@pytest.mark.parametrize(
    "policy_data",
    [
        '{"bindings": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]}',
        '{"bindings": [{"role": "roles/owner", "members": ["user:a@example.com"]}]}',
    ],
)
def test_iam_policy_documents_are_inspected(policies, policy_data):
    props = {"bucket": "lake", "policyData": policy_data}
    found = {
        n
        for n, p in policies.items()
        if run_policy(p, "gcp:storage/bucketIAMPolicy:BucketIAMPolicy", props)
    }
    assert found & {"no-public-members", "no-editor-or-owner-roles"}


def test_public_invoker_on_a_binding_of_a_data_resource(policies):
    props = {"secretId": "s", "role": "roles/secretmanager.secretAccessor", "members": ["allUsers"]}
    assert run_policy(
        policies["no-public-members"],
        "gcp:secretmanager/secretIamBinding:SecretIamBinding",
        props,
    )


def test_unknown_image_defers_to_the_update_instead_of_passing(policies):
    """During preview an image digest from the build is unknown: the SDK must be told (it reports
    "can't run during preview"), not silently pass."""
    resource_type, props = COMPLIANT["service"]
    props = copy.deepcopy(props)
    props["template"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    with pytest.raises(UnknownValueError):
        run_policy(policies["cloud-run-image-pinned-by-digest"], resource_type, props)


def test_unknown_unrelated_value_does_not_hide_a_plain_secret(policies):
    resource_type, props = COMPLIANT["service"]
    props = copy.deepcopy(props)
    envs = props["template"]["containers"][0]["envs"]
    envs[0]["value"] = UNKNOWN_STRING_VALUE  # e.g. the bucket name, known only after creation
    envs.append(
        {"name": "DB_PASSWORD", "value": UNKNOWN_STRING_VALUE}
    )  # a generated password, inlined
    messages = run_policy(policies["no-plain-secret-env-vars"], resource_type, props)
    assert len(messages) == 1 and "DB_PASSWORD" in messages[0]


# --- The pack as the Pulumi CLI runs it: `python -m pulumi.policy <engine> infra/policy` over gRPC.


@pytest.fixture(scope="module")
def analyzer():
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    # As in the pack's own virtualenv: site-packages without the project's editable install
    # (-S skips its .pth), so the pack must load its rules from its folder alone.
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    proc = subprocess.Popen(
        [sys.executable, "-S", "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(PACK_DIR)],
        cwd=PACK_DIR,
        env={**os.environ, "PYTHONPATH": site_packages},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), (
            f"policy pack did not start: {proc.stderr.read() if proc.poll() is not None else port}"
        )
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def analyze(stub, resource_type: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import analyzer_pb2

    properties = struct_pb2.Struct()
    properties.update(props)
    request = analyzer_pb2.AnalyzeRequest(
        type=resource_type,
        properties=properties,
        urn=f"urn:pulumi:dev::mage-gcp::{resource_type}::x",
        name="x",
    )
    response = stub.Analyze(request, timeout=30)
    return [(d.policyName, d.message) for d in response.diagnostics]


def test_pack_loads_as_the_cli_loads_it(analyzer):
    from google.protobuf import empty_pb2

    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == policy_pack.PACK_NAME
    assert sorted(p.name for p in info.policies) == sorted([*r.RULES, *r.STACK_RULES])


def test_analyzer_reports_violations_and_passes_compliant_resources(analyzer):
    sql_type, sql = COMPLIANT["sql"]
    assert analyze(analyzer, sql_type, sql) == []
    public = copy.deepcopy(sql)
    public["settings"]["ipConfiguration"]["ipv4Enabled"] = True
    assert [name for name, _ in analyze(analyzer, sql_type, public)] == ["cloudsql-no-public-ip"]
    assert [name for name, _ in analyze(analyzer, r.SA_KEY, {"serviceAccountId": "sa"})] == [
        "no-service-account-keys"
    ]


# --- The committed stacks, planned offline under mocks (tools.offline), pass every policy.


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_pass_the_policy_pack(policies, stack):
    from tools.offline import run_program

    plan = run_program(stack)
    planned_types = {resource.type for resource in plan.resources}
    assert {r.SQL_INSTANCE, r.BUCKET, r.RUN_SERVICE, r.RUN_JOB} <= planned_types
    assert any("IAMMember" in t or "IamMember" in t for t in planned_types)
    found = {
        (resource.type, resource.name, name): messages
        for resource in plan.resources
        for name, policy in policies.items()
        if (messages := run_policy(policy, resource.type, resource.inputs))
    }
    assert found == {}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_pass_the_stack_policies(stack_policies, stack):
    from tools.offline import run_program

    plan = run_program(stack)
    assert {
        n: m for n, p in stack_policies.items() if (m := run_stack_policy(p, plan.resources))
    } == {}


def run_stack_policy(policy: StackValidationPolicy, resources) -> list[str]:
    """Call a stack policy's validate callback over planned resources; return the messages."""
    reported: list[str] = []
    options = PolicyResourceOptions(False, [], None, [], None, [], None)
    stack = [
        PolicyResource(
            res.type, res.inputs, f"urn:x::{res.name}", res.name, options, None, None, [], {}
        )
        for res in resources
    ]
    policy.validate(StackValidationArgs(stack), lambda message, urn=None: reported.append(message))
    return reported


def test_stack_policy_finds_a_stored_secret_under_an_innocent_name(stack_policies):
    from tools.offline import PlannedResource

    secret = PlannedResource(r.SECRET_VERSION, "pw", {"secretData": "s3cr3t-value"})
    service = PlannedResource(
        r.RUN_SERVICE,
        "ui",
        {
            "template": {
                "containers": [
                    {"image": IMAGE, "envs": [{"name": "EXTRA", "value": "x s3cr3t-value"}]}
                ]
            }
        },
    )
    policy = stack_policies["no-stored-secret-in-env"]
    assert run_stack_policy(policy, [secret]) == []
    messages = run_stack_policy(policy, [secret, service])
    assert len(messages) == 1 and "ui puts a stored secret's value into env EXTRA" in messages[0]


@pytest.mark.parametrize(
    ("resource_type", "props", "policy_name"),
    [
        (r.HMAC_KEY, {"serviceAccountEmail": "sa@p.iam.gserviceaccount.com"}, "no-service-account-keys"),
        ("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "predefinedAcl": "publicRead"},
         "bucket-uniform-access-and-public-access-prevention"),
        (r.WIF_PROVIDER, {"attributeCondition": "assertion.repository_owner != ''"}, "wif-one-repository"),
        (r.PROJECT_MEMBER, {"role": "roles/storage.objectAdmin",
                            "member": "serviceAccount:mage-runtime@p.iam.gserviceaccount.com"},
         "runtime-data-roles-scoped"),
    ],
)  # fmt: skip
def test_pack_now_enforces_what_only_the_tests_checked(policies, resource_type, props, policy_name):
    """HMAC keys, storage ACLs, the WIF restriction and project-wide data roles (issue 7)."""
    fired = {n for n, p in policies.items() if run_policy(p, resource_type, props)}
    assert fired == {policy_name}


def test_pack_requires_a_private_network_for_cloud_sql(policies):
    sql_type, sql = COMPLIANT["sql"]
    props = copy.deepcopy(sql)
    props["settings"]["ipConfiguration"].pop("privateNetwork")
    messages = run_policy(policies["cloudsql-no-public-ip"], sql_type, props)
    assert messages == [
        "Cloud SQL instance has no private network: set settings.ipConfiguration.privateNetwork "
        "to the VPC so the services reach it over a private IP."
    ]
    props["settings"]["ipConfiguration"]["privateNetwork"] = UNKNOWN_STRING_VALUE  # preview
    assert run_policy(policies["cloudsql-no-public-ip"], sql_type, props) == []


def test_public_ui_invoker_passes_only_with_the_pack_config(policies):
    invoker = {"name": "mage", "role": "roles/run.invoker", "member": "allUsers"}
    policy = policies["no-public-members"]
    assert run_policy(policy, r.UI_INVOKER, invoker)
    assert run_policy(policy, r.UI_INVOKER, invoker, {"allowPublicUi": True}) == []
    on_data = {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"}
    bucket_member = "gcp:storage/bucketIAMMember:BucketIAMMember"
    assert run_policy(policy, bucket_member, on_data, {"allowPublicUi": True})

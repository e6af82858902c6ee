"""The stack after its first `pulumi up`: a second `up` on an unchanged checkout plans the same
resources, nothing in the plan depends on the machine, fields the API rewrites are left to it,
a new secret version rolls the service and the jobs, one scheduler runs through a rollout, and
`pulumi destroy` tears dev down in one go while prod keeps its deletion protection.

Offline (tools.offline under mocks): what the engine would diff is the registered inputs and
options, so two runs must register exactly the same ones; what GCP would refuse on destroy is
the rule set's ``teardown_refusals`` (each refusal cites its page)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from pathlib import Path

import pytest
import tools.offline as offline
from tools.offline import Plan, run_program

from infra.components.apis import _SleepProvider
from infra.policy import policy_rules as rules
from tests.infra.infra_plans import mutated, planned

SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
SECRET = "gcp:secretmanager/secret:Secret"
API = "gcp:projects/service:Service"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"

#: Inputs the API rewrites after creation: when the program sets one, it must leave it to the
#: API (ignore_changes), else every later preview shows a change.
API_REWRITES = {
    # The API reports back the launch stage the service's features need (GA once they are):
    # https://cloud.google.com/run/docs/troubleshooting#launch-stage-validation
    SERVICE: ("launchStage",),
}


def fingerprint(plan: Plan) -> dict[tuple[str, str, str], tuple]:
    """What `pulumi preview` diffs, per resource (registration order is not fixed, and not
    diffed): its inputs and options."""
    return {
        (r.type, r.name, r.parent): (
            json.dumps(r.inputs, sort_keys=True),
            tuple(sorted(r.dependencies)),
            tuple(sorted(r.ignore_changes)),
        )
        for r in plan.resources
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_second_up_plans_the_same_stack(stack):
    """Pulumi runs the program from the project folder each time; nothing in it may vary."""
    first, second = run_program(stack), run_program(stack)
    assert fingerprint(second) == fingerprint(first)
    assert second.outputs == first.outputs


def _host_strings() -> list[str]:
    home = str(Path.home())
    return [
        s for s in (str(offline.REPO_ROOT), home, socket.gethostname(), os.getcwd()) if s != "/"
    ]


def test_no_planned_input_holds_a_host_path_or_name(stack_plan: Plan):
    found = [
        (r.name, host)
        for r in stack_plan.resources
        for host in _host_strings()
        if host in json.dumps(r.inputs)
    ]
    assert found == []


def unguarded_rewrites(resources) -> list[tuple[str, str]]:
    """(resource, field) for every input the API rewrites that the program sets and does not
    leave to the API (ignore_changes)."""
    return [
        (r.name, field)
        for r in resources
        for field in API_REWRITES.get(r.type, ())
        if r.get(field) is not None and field not in r.ignore_changes
    ]


def test_fields_the_api_rewrites_are_left_to_it(stack_plan: Plan):
    assert unguarded_rewrites(stack_plan.resources) == []
    # the check is real: the old `launch_stage = "BETA"` is found
    beta = mutated(stack_plan.resources, SERVICE, lambda i: i.update(launchStage="BETA"))
    assert unguarded_rewrites(beta) == [("mage-ui", "launchStage")]


def _secret_refs(resource) -> dict[str, dict]:
    template = resource.get("template") or {}
    if resource.type == JOB:
        template = template.get("template") or {}
    return {
        e["name"]: e["valueSource"]["secretKeyRef"]
        for c in template.get("containers") or []
        for e in c.get("envs") or []
        if (e.get("valueSource") or {}).get("secretKeyRef")
    }


def _versions(plan: Plan) -> dict[str, str]:
    """secret id -> the version number the plan's one version of it got."""
    by_name = {f"{s.name}-id": s.get("secretId") for s in plan.of_type(SECRET)}
    return {by_name[v.get("secret")]: v.name for v in plan.of_type(SECRET_VERSION)}


def _plan_with_versions(monkeypatch, numbers: dict[str, str]) -> Plan:
    """The dev plan with each SecretVersion's ``version`` output from ``numbers`` (by logical
    name), as Secret Manager would number a version created after others."""
    real = offline._fake_outputs

    def fake(args):
        out = real(args)
        if args.typ == SECRET_VERSION:
            out["version"] = numbers.get(args.name, "1")
        return out

    monkeypatch.setattr(offline, "_fake_outputs", fake)
    return run_program("dev")


def test_containers_read_the_secret_versions_the_stack_created(monkeypatch):
    names = [v.name for v in planned("dev").of_type(SECRET_VERSION)]
    numbers = {name: str(7 + i) for i, name in enumerate(names)}
    plan = _plan_with_versions(monkeypatch, numbers)
    created = {secret: numbers[version] for secret, version in _versions(plan).items()}
    containers = plan.of_type(SERVICE, JOB)
    assert len(containers) >= 3
    for resource in containers:
        refs = _secret_refs(resource)
        assert refs, resource.name
        for variable, ref in refs.items():
            assert ref["version"] == created[ref["secret"]], (resource.name, variable)


def test_a_new_secret_version_changes_the_service_and_every_job(monkeypatch):
    before = {
        r.name: json.dumps(r.inputs, sort_keys=True) for r in planned("dev").of_type(SERVICE, JOB)
    }
    rotated = next(
        v.name for v in planned("dev").of_type(SECRET_VERSION) if "taxi-password" in v.name
    )
    after = _plan_with_versions(monkeypatch, {rotated: "2"})
    changed = {
        r.name
        for r in after.of_type(SERVICE, JOB)
        if json.dumps(r.inputs, sort_keys=True) != before[r.name]
    }
    assert changed == set(before)  # the UI (a new revision) and every job read POSTGRES_PASSWORD


def test_one_ui_instance_across_revisions(stack_plan: Plan):
    [service] = stack_plan.of_type(SERVICE)
    assert service.get("scaling", "maxInstanceCount") == 1  # all revisions together
    assert service.get("template", "scaling", "maxInstanceCount") == 1


# -- teardown ----------------------------------------------------------------------------------


def test_dev_tears_down_in_one_destroy(dev_plan: Plan):
    assert rules.teardown_refusals(dev_plan.resources) == []
    kept = sorted(r.type for r in dev_plan.resources if r.retain_on_delete)
    assert kept == [rules.VPC, rules.SUBNET]  # left in the project, free (docs/deploy.md)


def test_prod_keeps_its_deletion_protection_until_it_is_lifted(prod_plan: Plan):
    refused = "\n".join(rules.teardown_refusals(prod_plan.resources))
    for protected in ("database-instance", "mage-ui", "backfill-job", "storage-lake"):
        assert f"{protected}:" in refused
    # docs/deploy.md: `pulumi config set mage-gcp:deletionProtection false`, `pulumi up`, destroy
    lifted = planned("prod", (("mage-gcp:deletionProtection", "false"),))
    assert rules.teardown_refusals(lifted.resources) == []


TEARDOWN_VARIANTS = [
    (rules.BUCKET, lambda i: i.update(forceDestroy=False), "not empty"),
    (rules.SQL_INSTANCE, lambda i: i.update(deletionProtection=True), "deletion protection"),
    (SERVICE, lambda i: i.update(deletionProtection=True), "deletion protection"),
    (rules.BQ_DATASET, lambda i: i.pop("deleteContentsOnDestroy"), "dataset with tables"),
    (rules.SQL_USER, lambda i: i.pop("deletionPolicy"), "refuses to drop"),
    (rules.SQL_DATABASE, lambda i: i.update(deletionPolicy="DELETE"), "refuses to drop"),
    (rules.PEERING, lambda i: i.update(deletionPolicy="ABANDON"), "peering is refused"),
]


@pytest.mark.parametrize(("type_", "change", "refusal"), TEARDOWN_VARIANTS)
def test_each_teardown_check_can_fail(dev_plan: Plan, type_, change, refusal):
    variant = mutated(dev_plan.resources, type_, change)
    assert any(refusal in sentence for sentence in rules.teardown_refusals(variant))


def test_a_network_destroy_would_wait_for_cloud_run(dev_plan: Plan):
    unkept = [
        dataclasses.replace(r, retain_on_delete=False) if r.type == rules.SUBNET else r
        for r in dev_plan.resources
    ]
    assert any("1-2 hours" in s for s in rules.teardown_refusals(unkept))


# -- first up ----------------------------------------------------------------------------------


def _after(plan: Plan) -> dict[str, frozenset[str]]:
    """Resource name -> the names it waits for, transitively (explicit and input dependencies)."""
    names = {r.name: r for r in plan.resources}
    urn_name = {f"{d}": d.rsplit("::", 1)[-1] for r in plan.resources for d in r.dependencies}
    done: dict[str, frozenset[str]] = {}

    def visit(name: str) -> frozenset[str]:
        if name not in done:
            direct = {urn_name[d] for d in names[name].dependencies}
            done[name] = frozenset(direct).union(*(visit(d) for d in direct if d in names))
        return done[name]

    for name in names:
        visit(name)
    return done


def test_nothing_is_created_before_the_apis_are_enabled_and_propagated(stack_plan: Plan):
    after = _after(stack_plan)
    early = [
        r.name
        for r in stack_plan.resources
        if r.custom and r.type != API and r.name != "apis-propagated"
        and "apis-propagated" not in after[r.name]
    ]  # fmt: skip
    assert early == []
    enabled = {r.name for r in stack_plan.of_type(API)}
    assert enabled <= after["apis-propagated"]


def test_containers_start_after_their_grants_have_propagated(stack_plan: Plan):
    after = _after(stack_plan)
    grants = {
        r.name
        for r in stack_plan.resources
        if r.type.endswith(("iAMMember:IAMMember", "IamMember", "BucketIAMMember"))
        and r.parent.endswith("::identity")
    }
    assert grants and grants <= after["identity-runtime-grants-propagated"]
    for resource in stack_plan.of_type(SERVICE, JOB):
        assert "identity-runtime-grants-propagated" in after[resource.name], resource.name
    [service] = stack_plan.of_type(SERVICE)
    assert "mage-secret-grants-propagated" in after[service.name]


def test_the_wait_sleeps_once_and_again_only_when_its_triggers_change():
    provider = _SleepProvider()
    started = time.monotonic()
    created = provider.create({"seconds": 0.3, "triggers": ["a"]})
    assert time.monotonic() - started >= 0.3
    same = {"seconds": 0.3, "triggers": ["a"], "__provider": "another serialization"}
    assert provider.diff(created.id, created.outs, same).changes is False  # a retried `up`
    changed = provider.diff(created.id, created.outs, {"seconds": 0.3, "triggers": ["b"]})
    assert changed.changes is True and changed.replaces == ["triggers"]

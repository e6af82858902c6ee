"""infra/ under plain Pulumi mocks, without tools.offline: how an outside reviewer would run it.

A fresh process sets the stack config through the standard ``PULUMI_CONFIG`` variable, installs a
``pulumi.runtime.Mocks`` that echoes inputs back, imports ``infra.__main__`` and records what was
registered. The provider-computed values an invariant needs are the docker-build image digest
(the image is pinned to it) and a secret version's number (the containers read that version):
every run supplies the version number Secret Manager gives a secret's first version, and the
runs with a digest supply it too, as the real providers would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from tools.offline import PlannedResource

from infra.policy.policy_rules import plan_violations as violations
from mage_project.utils.image_contract import REPO_ROOT as ROOT

DIGEST = "sha256:" + "ab" * 32

SCRIPT = textwrap.dedent(
    """
    import importlib, json, sys
    import pulumi

    created = []
    digest = sys.argv[1] or None

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            created.append({"type": args.typ, "name": args.name, "inputs": args.inputs})
            state = dict(args.inputs)
            if digest and args.typ == "docker-build:index:Image":
                state["digest"] = digest
            if args.typ == "gcp:secretmanager/secretVersion:SecretVersion":
                state["version"] = "1"
            return args.name + "_id", state

        def call(self, args):
            return {}

    pulumi.runtime.set_mocks(Mocks(), project="mage-gcp", stack=sys.argv[2], preview=False)
    program = importlib.import_module("infra.__main__")

    @pulumi.runtime.test
    def settle():
        return program.service.url.apply(lambda _: None)

    settle()
    print(json.dumps(created, default=str))
    """
)

BRIEF_TYPES = {
    "gcp:cloudrunv2/service:Service",
    "gcp:cloudrunv2/job:Job",
    "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:storage/bucket:Bucket",
    "gcp:bigquery/dataset:Dataset",
    "gcp:serviceaccount/account:Account",
    "gcp:secretmanager/secret:Secret",
    "gcp:artifactregistry/repository:Repository",
    "gcp:cloudscheduler/job:Job",
}


def plain_run(stack: str, digest: str = "") -> list[PlannedResource]:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env["PULUMI_CONFIG"] = json.dumps(config)  # structured values as JSON, as the CLI does
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, digest, stack],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [PlannedResource(r["type"], r["name"], r["inputs"]) for r in json.loads(result.stdout)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plain_mocks_plan_the_brief_and_every_invariant_holds(stack: str):
    resources = plain_run(stack, DIGEST)
    assert {r.type for r in resources} >= BRIEF_TYPES
    assert violations(resources) == {}
    service = next(r for r in resources if r.type == "gcp:cloudrunv2/service:Service")
    assert service.get("template", "containers", 0, "image").endswith("@" + DIGEST)


def test_without_the_build_digest_only_the_digest_pin_is_unknowable():
    resources = plain_run("dev")
    assert {r.type for r in resources} >= BRIEF_TYPES
    assert set(violations(resources)) == {"cloud-run-image-pinned-by-digest"}

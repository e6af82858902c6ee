"""The GitHub workflows do what the README promises: tests on every push, a policy-checked
`pulumi preview --diff` commented on PRs, `pulumi up` on main behind an environment, all
authenticated by Workload Identity Federation (never a JSON key), actions pinned to versions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    # PyYAML reads the bare `on:` key as the boolean True.
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def step_using(workflow: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = [s for s in steps(workflow) if s.get("uses", "").startswith(f"{action}@")]
    return step


@pytest.mark.parametrize("name", ["ci.yml", "preview.yml", "deploy.yml"])
def test_actions_are_pinned_to_versions(name):
    for step in steps(load(name)):
        if "uses" in step:
            assert re.search(r"@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$", step["uses"]), step["uses"]


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_cloud_workflows_use_workload_identity_federation(name):
    text = (WORKFLOWS / name).read_text()
    assert "credentials_json" not in text and "GOOGLE_CREDENTIALS" not in text
    auth = step_using(load(name), "google-github-actions/auth")["with"]
    assert set(auth) == {"workload_identity_provider", "service_account"}
    workflow = load(name)
    permissions = [workflow.get("permissions", {})] + [
        j.get("permissions", {}) for j in workflow["jobs"].values()
    ]
    assert any(p.get("id-token") == "write" for p in permissions)


@pytest.mark.parametrize(("name", "command"), [("preview.yml", "preview"), ("deploy.yml", "up")])
def test_pulumi_runs_with_gcs_state_kms_secrets_and_the_policy_pack(name, command):
    pulumi = step_using(load(name), "pulumi/actions")["with"]
    assert pulumi["command"] == command
    assert pulumi["policyPacks"] == "infra/policy"
    assert pulumi["diff"] is True
    assert (
        "PULUMI_BACKEND_URL" in pulumi["cloud-url"]
        and "PULUMI_SECRETS_PROVIDER" in pulumi["secrets-provider"]
    )


def test_ci_runs_make_test():
    ci = load("ci.yml")
    assert any(step.get("run") == "make test" for step in steps(ci))
    assert {"push", "pull_request"} <= set(ci["on"])


def test_preview_comments_the_diff_on_pull_requests():
    preview = load("preview.yml")
    assert set(preview["on"]) == {"pull_request"}
    assert preview["permissions"]["pull-requests"] == "write"
    assert step_using(preview, "pulumi/actions")["with"]["comment-on-pr"] is True


def test_deploy_is_gated_by_tests_and_the_production_environment():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    job = deploy["jobs"]["deploy"]
    assert job["environment"] == "production"
    assert job["needs"] == "test"
    assert deploy["jobs"]["test"]["uses"] == "./.github/workflows/ci.yml"
    assert deploy["concurrency"]["cancel-in-progress"] is False


def test_deploy_is_not_skipped_by_a_job_level_environment_variable():
    """A job-level `if:` is evaluated before the job enters its environment, so it never sees
    the production environment's variables: deploy.yml must check them in a step."""
    job = load("deploy.yml")["jobs"]["deploy"]
    assert "vars." not in str(job.get("if", ""))
    first, *rest = job["steps"]
    assert "vars.GCP_WORKLOAD_IDENTITY_PROVIDER" in str(first["env"])
    assert all(step.get("if") == f"steps.{first['id']}.outputs.yes == 'true'" for step in rest)


def test_previews_run_as_the_read_only_identity():
    auth = step_using(load("preview.yml"), "google-github-actions/auth")["with"]
    assert auth["service_account"] == "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}"
    preview = load("preview.yml")["jobs"]["preview"]
    assert "environment" not in preview  # its OIDC subject stays repo:<owner>/<name>:pull_request

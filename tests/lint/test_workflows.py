"""The GitHub workflows do what the README and docs/ci.md promise: tests on every pull request and
once per push to main, an offline plan diff on every PR (forks included, no credentials), a
policy-checked `pulumi preview --diff` only behind the reviewed `preview` environment, `pulumi up`
on main behind `production`, all authenticated by Workload Identity Federation (never a JSON
key), third-party actions pinned to commit SHAs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from infra.components.ci_identity import DEPLOY_ENVIRONMENT, PREVIEW_ENVIRONMENT
from mage_project.utils.image_contract import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"


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
def test_actions_are_pinned_to_commit_shas(name):
    """A tag can be moved to other code; a commit SHA cannot. The comment names the tag."""
    text = (WORKFLOWS / name).read_text()
    for step in steps(load(name)):
        if "uses" in step and not step["uses"].startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            assert re.search(re.escape(step["uses"]) + r" # v\d+\.\d+\.\d+\n", text)


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


def test_ci_runs_make_test_on_pull_requests_and_when_called():
    ci = load("ci.yml")
    assert any(step.get("run") == "make test" for step in steps(ci))
    assert set(ci["on"]) == {"pull_request", "workflow_call"}


def _runs_the_suite(workflow: dict[str, Any]) -> bool:
    return any(step.get("run") == "make test" for step in steps(workflow)) or any(
        job.get("uses") == "./.github/workflows/ci.yml" for job in workflow["jobs"].values()
    )


def test_the_suite_runs_once_per_push_to_main():
    on_push = [
        name
        for name in ("ci.yml", "preview.yml", "deploy.yml")
        if "push" in (load(name)["on"] or {}) and _runs_the_suite(load(name))
    ]
    assert on_push == ["deploy.yml"]
    assert load("deploy.yml")["on"]["push"]["branches"] == ["main"]


def test_preview_comments_the_diff_on_pull_requests():
    preview = load("preview.yml")
    assert set(preview["on"]) == {"pull_request"}
    job = preview["jobs"]["cloud-preview"]
    assert job["permissions"]["pull-requests"] == "write"
    assert step_using(preview, "pulumi/actions")["with"]["comment-on-pr"] is True


def test_deploy_is_gated_by_tests_and_the_production_environment():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    job = deploy["jobs"]["deploy"]
    assert job["environment"] == DEPLOY_ENVIRONMENT
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


def test_cloud_previews_run_as_the_preview_identity_in_the_reviewed_environment():
    """The job that can obtain the preview identity runs in the environment whose name the WIF
    provider requires in the token's `environment` claim (tests/infra/test_ci_identities.py)."""
    preview = load("preview.yml")
    auth = step_using(preview, "google-github-actions/auth")["with"]
    assert auth["service_account"] == "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}"
    job = preview["jobs"]["cloud-preview"]
    assert job["environment"] == PREVIEW_ENVIRONMENT
    assert job["needs"] == "plan-diff"
    assert "head.repo.full_name == github.repository" in job["if"]


@pytest.mark.parametrize("name", ["ci.yml", "preview.yml", "deploy.yml"])
def test_only_jobs_in_an_environment_may_request_an_oidc_token(name):
    workflow = load(name)
    assert "id-token" not in workflow.get("permissions", {})
    for job in workflow["jobs"].values():
        if job.get("permissions", {}).get("id-token") == "write":
            assert job["environment"] in {PREVIEW_ENVIRONMENT, DEPLOY_ENVIRONMENT}


def test_every_pull_request_gets_the_offline_plan_diff_without_credentials():
    preview = load("preview.yml")
    job = preview["jobs"]["plan-diff"]
    assert "if" not in job and "environment" not in job  # forks included, nothing to approve
    assert job["permissions"] == {"contents": "read"}
    assert "secrets." not in yaml.safe_dump(job) and "vars." not in yaml.safe_dump(job)
    assert not [s for s in job["steps"] if "google-github-actions" in s.get("uses", "")]
    (diff,) = [s for s in job["steps"] if "tools.plan_diff" in s.get("run", "")]
    assert "--base HEAD^1" in diff["run"] and "$GITHUB_STEP_SUMMARY" in diff["run"]
    checkout = step_using({"jobs": {"j": job}}, "actions/checkout")
    assert checkout["with"] == {"fetch-depth": 2, "persist-credentials": False}


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_cloud_workflows_install_only_the_infra_group(name):
    syncs = [s["run"] for s in steps(load(name)) if "uv sync" in s.get("run", "")]
    assert syncs and all(
        run == "uv sync --frozen --no-default-groups --group infra" for run in syncs
    )


def test_deploys_default_to_the_dev_stack():
    env = load("deploy.yml")["jobs"]["deploy"]["env"]
    assert env["PULUMI_STACK"] == "${{ vars.PULUMI_STACK || 'dev' }}"

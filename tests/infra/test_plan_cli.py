"""`make plan` (python -m tools.plan) run as users run it: a subprocess, no cloud, a readable table."""

from __future__ import annotations

import subprocess

import pytest

from tests.infra.infra_plans import tool_cli


def plan_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return tool_cli("plan", *args)


def row(stdout: str, type_: str, name: str) -> str:
    """The table line of one resource (short type, then logical name)."""
    found = [
        line
        for line in stdout.splitlines()
        if f" {type_} " in line and f" {name} " in line.split("│")[2]
    ]
    assert len(found) == 1, f"{type_} {name}: {found}"
    return found[0]


@pytest.fixture(scope="module")
def dev_output() -> str:
    result = plan_cli("--stack", "dev")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_dev_plan_shows_every_resource_of_the_brief_with_key_settings(dev_output: str):
    sql = row(dev_output, "sql.DatabaseInstance", "database-instance")
    for setting in ("tier=db-f1-micro", "public ip=False", "ssl=ENCRYPTED_ONLY", "backups=True"):
        assert setting in sql
    ui = row(dev_output, "cloudrunv2.Service", "mage-ui")
    assert "min=0 " in ui and "max=1 " in ui and "@sha256:" in ui
    job = row(dev_output, "cloudrunv2.Job", "runs-green-taxi-etl")
    assert "args=run,mage_project,green_taxi_etl" in job
    schedule = row(dev_output, "cloudscheduler.Job", "runs-green-taxi-etl-schedule")
    assert "schedule=0 5 * * *" in schedule and "tz=Etc/UTC" in schedule
    bucket = row(dev_output, "storage.Bucket", "storage-lake")
    assert "uniform=True" in bucket and "public access=enforced" in bucket
    assert "id=ny_taxi" in row(dev_output, "bigquery.Dataset", "warehouse-dataset")
    assert "format=DOCKER" in row(dev_output, "artifactregistry.Repository", "image-repo")
    assert "id=mage-runtime" in row(dev_output, "serviceaccount.Account", "identity-runtime")
    assert "id=mage-owner-password" in row(dev_output, "secretmanager.Secret", "mage-owner")
    assert "│ mage-gcp:database:Database" in dev_output
    assert "no cloud calls were made" in dev_output


def test_dev_plan_shows_the_stack_outputs_and_no_cost_figure(dev_output: str):
    """The outputs table lists what `pulumi up` exports; pricing is `make cost`'s alone."""
    for output in ("ui_url", "bucket", "dataset", "sql_connection_name", "image_digest"):
        assert len([line for line in dev_output.splitlines() if f"│ {output} " in line]) == 1
    assert "estimated_idle_monthly_usd" not in dev_output


def test_prod_plan_is_always_on_and_protected():
    result = plan_cli("--stack", "prod", "--no-grants")
    assert result.returncode == 0, result.stderr
    ui = row(result.stdout, "cloudrunv2.Service", "mage-ui")
    assert "min=1 " in ui and "cpu idle=False" in ui
    sql = row(result.stdout, "sql.DatabaseInstance", "database-instance")
    assert "availability=REGIONAL" in sql and "deletion protection=True" in sql
    assert "role=" not in result.stdout  # --no-grants hides IAM grant rows


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["--stack", "staging"],
            "Pulumi.staging.yaml not found: use one of the committed stacks (dev, prod).",
        ),
        (
            ["--stack", "dev", "--set", "mage-gcp:mode=turbo"],
            "Stack config mage-gcp:mode = 'turbo' is not allowed: use 'cost' (scale to zero) or "
            "'always-on' (`pulumi config set mage-gcp:mode <value>`).",
        ),
    ],
)
def test_bad_stack_or_value_is_one_clear_sentence(args: list[str], sentence: str):
    result = plan_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == sentence

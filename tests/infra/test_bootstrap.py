"""scripts/bootstrap: the dry run prints every step in order and runs nothing; a real run calls
gcloud/pulumi (fakes on PATH here) in that order, skips what exists, stops at the first failure;
bad arguments and missing tools give one clear sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mage_project.utils.image_contract import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "bootstrap"
PROJECT = "my-mage-dev"
KMS_KEY = (
    f"gcpkms://projects/{PROJECT}/locations/europe-west1/keyRings/pulumi/cryptoKeys/pulumi-secrets"
)
# The steps, in order: (tool, words that identify the command).
EXPECTED = [
    ("gcloud", "services enable cloudresourcemanager.googleapis.com serviceusage.googleapis.com"),
    (
        "gcloud",
        f"storage buckets create gs://{PROJECT}-pulumi-state --project {PROJECT} --location europe-west1 --uniform-bucket-level-access --public-access-prevention",
    ),
    ("gcloud", f"storage buckets update gs://{PROJECT}-pulumi-state --versioning"),
    ("gcloud", "kms keyrings create pulumi --location europe-west1"),
    ("gcloud", "kms keys create pulumi-secrets --keyring pulumi --purpose encryption"),
    ("pulumi", f"login gs://{PROJECT}-pulumi-state"),
    ("pulumi", f"stack init prod --secrets-provider {KMS_KEY}"),
    ("pulumi", f"config set gcp:project {PROJECT} --stack prod"),
    ("pulumi", "config set gcp:region europe-west1 --stack prod"),
    ("pulumi", "config set mage-gcp:githubRepository acme/mage-gcp --stack prod"),
    ("pulumi", "config set mage-gcp:githubRepositoryId 4242 --stack prod"),
]
ARGS = [
    "--project",
    PROJECT,
    "--region",
    "europe-west1",
    "--stack",
    "prod",
    "--github-repository",
    "acme/mage-gcp",
    "--github-repository-id",
    "4242",
]

FAKE_TOOL = """#!/bin/sh
echo "${0##*/} $*" >> "$FAKE_LOG"
case "$*" in
  *describe*|"stack select"*) exit "${FAKE_EXISTS_RC:-1}" ;;
esac
case "${0##*/} $*" in
  *"$FAKE_FAIL_ON"*) [ -n "$FAKE_FAIL_ON" ] && exit 3 ;;
esac
exit 0
"""


@pytest.fixture
def fake_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH holds only fake gcloud and pulumi that log their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gcloud", "pulumi"):
        fake = bin_dir / tool
        fake.write_text(FAKE_TOOL)
        fake.chmod(0o755)
    return {"PATH": str(bin_dir), "FAKE_LOG": str(tmp_path / "calls.log"), "HOME": str(tmp_path)}


def bootstrap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env if env is not None else {"PATH": os.environ["PATH"]},
        timeout=60,
    )


def calls(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_LOG"])
    return log.read_text().splitlines() if log.exists() else []


def assert_in_order(lines: list[str], expected: list[tuple[str, str]]) -> None:
    position = -1
    for tool, words in expected:
        matches = [i for i, line in enumerate(lines) if line.startswith(tool) and words in line]
        assert matches, f"missing: {tool} {words}\n" + "\n".join(lines)
        assert matches[0] > position, f"out of order: {tool} {words}"
        position = matches[0]


def test_dry_run_prints_every_step_in_order_and_runs_nothing(fake_path):
    result = bootstrap(*ARGS, "--dry-run", env=fake_path)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if line and not line.startswith("#")]
    assert len(commands) == len(EXPECTED)
    assert_in_order(commands, EXPECTED)
    assert f"PULUMI_SECRETS_PROVIDER={KMS_KEY}" in result.stdout
    assert calls(fake_path) == []


def test_dry_run_needs_no_tools():
    result = bootstrap("--project", PROJECT, "--dry-run", env={"PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "pulumi stack init dev --secrets-provider gcpkms://" in result.stdout


def test_run_calls_every_step_in_order(fake_path):
    result = bootstrap(*ARGS, env=fake_path)
    assert result.returncode == 0, result.stderr
    made = [
        line for line in calls(fake_path) if "describe" not in line and "stack select" not in line
    ]
    assert len(made) == len(EXPECTED)
    assert_in_order(made, EXPECTED)


def test_rerun_skips_what_already_exists(fake_path):
    result = bootstrap(*ARGS, env={**fake_path, "FAKE_EXISTS_RC": "0"})
    assert result.returncode == 0, result.stderr
    logged = calls(fake_path)
    assert not any(" create " in line or "stack init" in line for line in logged), logged
    assert result.stdout.count("already done, skipped") == 4
    assert any("config set gcp:project" in line for line in logged)


def test_failed_step_stops_with_one_sentence(fake_path):
    result = bootstrap(*ARGS, env={**fake_path, "FAKE_FAIL_ON": "kms keyrings create"})
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "step 4 (create the KMS key ring) failed with exit code 3" in result.stderr
    assert not any(line.startswith("pulumi") for line in calls(fake_path))


def test_ci_service_account_gets_decrypt_on_the_key(fake_path):
    sa = f"deployer@{PROJECT}.iam.gserviceaccount.com"
    result = bootstrap(*ARGS, "--ci-service-account", sa, "--dry-run", env=fake_path)
    assert result.returncode == 0, result.stderr
    last = [line for line in result.stdout.splitlines() if line.startswith("gcloud")][-1]
    assert (
        f"kms keys add-iam-policy-binding pulumi-secrets --keyring pulumi --member serviceAccount:{sa}"
        in last
    )
    assert "roles/cloudkms.cryptoKeyEncrypterDecrypter" in last


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "--project"),
        (["--project", "Bad_Project"], "--project 'Bad_Project' is not a GCP project id"),
        (["--project", PROJECT, "--region", "mars"], "--region 'mars' is not a GCP region"),
        (["--project", PROJECT, "--github-repository", "no-slash"], "owner/name"),
        (["--project", PROJECT, "--github-repository", "acme/x"], "needs --github-repository-id"),
        (["--project", PROJECT, "--github-repository-id", "12a"], "digits only"),
        (["--project", PROJECT, "--ci-service-account", "me@gmail.com"], "--ci-service-account"),
        (["--project", PROJECT, "--frobnicate"], "--frobnicate"),
    ],
)
def test_bad_arguments_give_one_clear_sentence(args, words, fake_path):
    result = bootstrap(*args, "--dry-run", env=fake_path)
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "\n" not in message and message.startswith("bootstrap: ") and message.endswith(".")
    assert words in message
    assert result.stdout == "" and calls(fake_path) == []


def test_missing_tool_is_named(fake_path):
    (Path(fake_path["PATH"]) / "pulumi").unlink()
    result = bootstrap("--project", PROJECT, env=fake_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "bootstrap: pulumi is not on PATH; install the Pulumi CLI (https://www.pulumi.com/docs/install/), "
        "or add --dry-run to only print the commands."
    )
    assert calls(fake_path) == []


def test_ci_preview_service_account_may_only_decrypt(fake_path):
    sa = f"mage-ci-preview@{PROJECT}.iam.gserviceaccount.com"
    result = bootstrap(*ARGS, "--ci-preview-service-account", sa, "--dry-run", env=fake_path)
    assert result.returncode == 0, result.stderr
    last = [line for line in result.stdout.splitlines() if line.startswith("gcloud")][-1]
    assert f"--member serviceAccount:{sa} --role roles/cloudkms.cryptoKeyDecrypter" in last


def test_the_repository_id_comes_from_the_github_cli_when_not_given(fake_path):
    """Without --github-repository-id the id is what `gh api repos/<repo> --jq .id` prints, so
    the stack's next `pulumi up` has the githubRepositoryId its config requires."""
    gh = Path(fake_path["PATH"]) / "gh"
    gh.write_text('#!/bin/sh\n[ "$*" = "api repos/acme/mage-gcp --jq .id" ] && echo 777\n')
    gh.chmod(0o755)
    result = bootstrap(*ARGS[:-2], "--dry-run", env=fake_path)
    assert result.returncode == 0, result.stderr
    assert "pulumi config set mage-gcp:githubRepositoryId 777 --stack prod" in result.stdout

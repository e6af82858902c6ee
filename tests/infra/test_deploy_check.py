"""`make deploy` checks its prerequisites first and names what is missing in one sentence,
without the Pulumi CLI, gcloud or Docker on this machine (fakes stand in for them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mage_project.utils.image_contract import REPO_ROOT as ROOT

CHECK = ROOT / "scripts" / "deploy_check.py"
MAKE = shutil.which("make")


def fake(bin_dir: Path, name: str, script: str = "exit 0") -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A shell with no pulumi, uv, gcloud credentials or docker."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "home").mkdir()
    return {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}


@pytest.fixture
def ready(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """Every prerequisite present: fake CLIs and an ADC file."""
    for name in ("pulumi", "uv", "docker"):
        fake(tmp_path / "bin", name)
    adc = tmp_path / "home" / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text("{}")
    return env


@pytest.fixture
def own_stack(tmp_path: Path) -> Path:
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    for old, new in [
        ("my-mage-dev", "acme-data-dev"),
        ("you@example.com", "ana@acme.io"),
        ("your-org/", "acme/"),
        ('"123456789"', '"987654321"'),
    ]:
        text = text.replace(old, new)
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    return path


def check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), *args], env=env, capture_output=True, text=True, timeout=60
    )


def checkout_copy(tmp_path: Path) -> Path:
    """The check and the dev stack file in a checkout without `make setup`'s .venv-uv."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(CHECK, root / "scripts" / CHECK.name)
    shutil.copy(ROOT / "Pulumi.dev.yaml", root / "Pulumi.dev.yaml")
    return root


def test_nothing_installed_is_one_sentence_naming_everything(env: dict[str, str], tmp_path):
    root = checkout_copy(tmp_path)
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / CHECK.name), "--stack", "dev"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    message = done.stderr.strip()
    assert message.count("\n") == 0 and message.startswith("make deploy STACK=dev cannot start:")
    for missing in (
        "Pulumi CLI is not installed",
        "uv is not on PATH (run `make setup`",
        "gcloud auth application-default login",
        "Docker is not installed",
        "my-mage-dev",
        "you@example.com",
        "your-org/mage-gcp",
        "123456789",
    ):
        assert missing in message, missing


def test_make_deploy_stops_before_pulumi_with_the_sentence(env: dict[str, str]):
    done = subprocess.run(
        [MAKE, "-o", ".venv/.mage-gcp-setup", "deploy", "STACK=prod"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "make deploy STACK=prod cannot start: the Pulumi CLI is not installed" in done.stderr
    assert "my-mage-prod" in done.stderr and "data-team@example.com" in done.stderr
    assert "No such file or directory" not in done.stderr  # make never ran `pulumi up`


def test_all_present_passes(ready: dict[str, str], own_stack: Path):
    done = check(ready, "--stack", "dev", "--config", str(own_stack))
    assert done.returncode == 0, done.stderr
    assert "all present" in done.stdout


def test_only_the_placeholders_left(ready: dict[str, str]):
    done = check(ready, "--stack", "dev")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "make deploy STACK=dev cannot start: Pulumi.dev.yaml still has the example values "
        "my-mage-dev, user:you@example.com, you@example.com, your-org/mage-gcp"
    )


@pytest.mark.parametrize(
    ("docker", "expected"),
    [
        ('[ "$1" = buildx ] && exit 1; exit 0', "Docker has no buildx plugin"),
        ('[ "$1" = info ] && exit 1; exit 0', "the Docker daemon is not running"),
    ],
)
def test_docker_without_buildx_or_daemon(
    tmp_path: Path, ready: dict[str, str], own_stack: Path, docker: str, expected: str
):
    fake(tmp_path / "bin", "docker", docker)
    done = check(ready, "--config", str(own_stack))
    assert done.returncode == 1
    assert done.stderr.startswith(f"make deploy STACK=dev cannot start: {expected}")


def test_explicit_credentials_file_must_exist(
    tmp_path: Path, ready: dict[str, str], own_stack: Path
):
    missing = {**ready, "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "nope.json")}
    assert "application-default login" in check(missing, "--config", str(own_stack)).stderr
    (tmp_path / "key.json").write_text("{}")
    present = {**ready, "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "key.json")}
    assert check(present, "--config", str(own_stack)).returncode == 0


def test_unknown_stack_names_the_file(ready: dict[str, str]):
    done = check(ready, "--stack", "staging")
    assert "Pulumi.staging.yaml does not exist" in done.stderr


def test_the_uv_make_setup_installed_counts(env: dict[str, str], tmp_path: Path):
    """`make setup` puts uv in .venv-uv/bin (PEP 668 refuses `pip install uv` on Debian), and
    `make deploy` puts that folder first on PATH, so the check accepts it."""
    root = checkout_copy(tmp_path)
    (root / ".venv-uv" / "bin").mkdir(parents=True)
    fake(root / ".venv-uv" / "bin", "uv")
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / CHECK.name), "--stack", "dev"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "uv is not on PATH" not in done.stderr and "Pulumi CLI" in done.stderr


def test_make_deploy_runs_pulumi_with_the_setup_uv_first_on_path():
    out = subprocess.run(
        [MAKE, "-n", "-o", ".venv/.mage-gcp-setup", "deploy", "STACK=dev"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    [line] = [line for line in out.splitlines() if "pulumi up" in line]
    assert f'PATH="{ROOT}/.venv-uv/bin:' in line, line


# -- organization policies ---------------------------------------------------------------------

sys.path.insert(0, str(CHECK.parent))
import deploy_check  # noqa: E402


def allowed(*values: str) -> dict:
    return {"spec": {"rules": [{"values": {"allowedValues": list(values)}}]}}


DEV = {"gcp:project": "acme-data-dev", "gcp:region": "europe-west1"}
UNRESTRICTED: dict[str, dict] = {}


def refusals(config: dict, policies: dict[str, dict]) -> list[str]:
    asked: list[str] = []

    def fetch(constraint: str) -> dict:
        asked.append(constraint)
        return policies.get(constraint, {})

    found = deploy_check.org_policy_refusals(config, fetch)
    assert "gcp.resourceLocations" in asked and "run.allowedIngress" in asked
    return found


def test_a_project_without_policies_is_refused_nothing():
    assert refusals(DEV, UNRESTRICTED) == []
    permissive = {
        "gcp.resourceLocations": allowed("in:europe-west1-locations", "global"),
        "run.allowedIngress": allowed("is:all"),
        "run.allowedVPCEgress": {"spec": {"rules": [{"allowAll": True}]}},
    }
    assert refusals(DEV, permissive) == []


@pytest.mark.parametrize(
    ("config", "constraint", "policy", "says"),
    [
        ({"mage-gcp:uiAccess": "public"}, "iam.allowedPolicyMemberDomains", allowed("C0abc123"),
         "set mage-gcp:uiAccess to iap or authenticated"),
        ({}, "run.allowedIngress", allowed("internal"), "refuses ingress 'all'"),
        ({}, "run.allowedVPCEgress", allowed("all-traffic"), "'private-ranges-only'"),
        ({}, "gcp.resourceLocations", allowed("in:us-locations", "global"),
         "refuses gcp:region europe-west1: set gcp:region"),
        ({}, "gcp.resourceLocations", allowed("in:eu-locations"), "refuses 'global'"),
        ({}, "compute.restrictVpcPeering", {"spec": {"rules": [{"denyAll": True}]}},
         "Service Networking peering"),
        ({"mage-gcp:githubRepository": "acme/mage-gcp"}, "iam.workloadIdentityPoolProviders",
         allowed("https://sts.windows.net/x/"), "remove mage-gcp:githubRepository"),
    ],
)  # fmt: skip
def test_each_refusing_policy_is_one_sentence_naming_the_way_out(config, constraint, policy, says):
    policies = {"gcp.resourceLocations": allowed("in:eu-locations", "global"), constraint: policy}
    found = refusals({**DEV, **config}, policies)
    assert len(found) == 1, found
    assert found[0].startswith(constraint) and says in found[0]


def test_refusals_are_printed_one_per_line_and_stop_the_deploy(
    ready: dict[str, str], own_stack: Path, monkeypatch, capsys
):
    monkeypatch.setattr(deploy_check, "problems", lambda stack, stack_file=None: [])
    policies = {"run.allowedIngress": allowed("internal"), "gcp.resourceLocations": allowed("x")}
    monkeypatch.setattr(
        deploy_check, "effective_policy_reader", lambda project: lambda c: policies.get(c, {})
    )
    assert deploy_check.main(["--config", str(own_stack)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3  # ingress, region, global
    assert all(line.startswith("make deploy STACK=dev would be refused: ") for line in lines)


def test_unreadable_policies_are_a_note_not_a_stop(own_stack: Path, monkeypatch, capsys):
    monkeypatch.setattr(deploy_check, "problems", lambda stack, stack_file=None: [])

    def no_credentials(project):
        raise RuntimeError("Your default credentials were not found")

    monkeypatch.setattr(deploy_check, "effective_policy_reader", no_credentials)
    assert deploy_check.main(["--config", str(own_stack)]) == 0
    out = capsys.readouterr().out
    assert "could not be read" in out and "all present" in out

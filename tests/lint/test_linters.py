"""Every linter passes on the repository, and each is shown to run by flagging a known-bad sample."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mage_project.utils.image_contract import REPO_ROOT as ROOT

BIN = Path(sys.executable).parent
YAML_TARGETS = [
    ".github/workflows",
    "Pulumi.yaml",
    *sorted(p.name for p in ROOT.glob("Pulumi.*.yaml")),
    "infra/policy/PulumiPolicy.yaml",
    "mage_project",
    ".yamllint",
]


def lint(*command: str | Path) -> subprocess.CompletedProcess[str]:
    tool = BIN / str(command[0])
    assert tool.exists(), f"{tool} is missing: run scripts/setup.sh"
    return subprocess.run(
        [str(tool), *map(str, command[1:])], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_hadolint_passes_on_the_dockerfile():
    result = lint("hadolint", "--no-color", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM mageai/mageai:latest\nRUN pip install pandas\n")
    result = lint("hadolint", "--no-color", bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # `latest` tag
    assert "DL3013" in result.stdout  # unpinned pip install


def test_actionlint_passes_on_the_workflows():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {p.name for p in workflows} >= {"ci.yml", "preview.yml", "deploy.yml"}
    result = lint("actionlint", "-no-color", *workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_flags_a_bad_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.no_such_property }}\n"
    )
    result = lint("actionlint", "-no-color", bad)
    assert result.returncode != 0
    assert "no_such_property" in result.stdout


def test_yamllint_passes():
    present = [t for t in YAML_TARGETS if (ROOT / t).exists()]
    assert ".github/workflows" in present
    result = lint("yamllint", "--strict", "-c", ".yamllint", *present)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_flags_bad_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: 1\nkey: 2   \n")
    result = lint("yamllint", "--strict", "-c", ROOT / ".yamllint", bad)
    assert result.returncode != 0
    assert "key-duplicates" in result.stdout and "trailing-spaces" in result.stdout


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_passes_on_the_repository(command):
    result = lint("ruff", *command, ".", "scripts/bootstrap")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_flags_bad_python(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    result = lint("ruff", "check", "--no-cache", "--config", ROOT / "pyproject.toml", bad)
    assert result.returncode != 0
    assert "F401" in result.stdout

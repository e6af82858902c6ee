"""The commands README's start and docs/deploy.md's offline steps print still work as printed:
the offline ones are run verbatim; the long-running ones (`make up`, `make demo`, `make test`)
are resolved through make to the script they run, which must answer `--help`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mage_project.utils.image_contract import REPO_ROOT as ROOT

README = (ROOT / "README.md").read_text()
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
TIMEOUT = 300


def clean_env(tmp_path: Path) -> dict[str, str]:
    """No cloud credentials, no Pulumi state, a twin state folder of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PULUMI_", "GOOGLE_", "CLOUDSDK_", "TWIN_", "MAGE_"))
    }
    env |= {
        "TWIN_STATE_DIR": str(tmp_path / "twin"),
        "COLUMNS": "200",
        "CLOUDSDK_CONFIG": str(tmp_path),
    }
    return env


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def block_commands(block: str) -> list[str]:
    return [
        line.split(" #", 1)[0].strip()
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def readme_start_commands() -> list[str]:
    start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", start, re.S)[1]
    inline = re.findall(r"`(make [a-z-]+)`", start.replace(block, ""))
    return list(dict.fromkeys([*block_commands(block), *inline]))


def offline_commands() -> list[str]:
    blocks = re.findall(r"<!-- offline -->\n```bash\n(.*?)```", DEPLOY, re.S)
    assert blocks, "docs/deploy.md marks its offline steps with <!-- offline -->"
    return [c for b in blocks for c in block_commands(b)]


def recipe(target: str, env: dict[str, str]) -> list[str]:
    done = run(f"make -n {target}", env)
    assert done.returncode == 0, done.stderr
    programs = (".venv/bin/python", "scripts/")
    return [line for line in done.stdout.splitlines() if line.startswith(programs)]


def test_readme_start_is_the_five_steps():
    assert readme_start_commands() == [
        "make up",
        "make test",
        "make demo",
        "make down",
        "make homework",
    ]


@pytest.mark.parametrize("command", ["make up", "make test", "make demo", "make homework"])
def test_readme_start_command_resolves_to_a_working_program(command: str, tmp_path: Path):
    env = clean_env(tmp_path)
    *_, line = recipe(command.removeprefix("make "), env)  # make test: its set-up, then the suite
    help_line = line + " --help"
    if line == "scripts/run_tests.sh":  # pytest's arguments pass through: collect one file
        help_line = line + " --co -q tests/lint/test_doc_commands.py"
    done = run(help_line, env)
    assert done.returncode == 0, done.stderr


def test_make_down_without_a_twin_says_so(tmp_path: Path):
    done = run("make down", clean_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "No local GCP twin is running." in done.stdout


def check_plan(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    shown = re.search(r"make plan +# .*\((\d+) for dev\)", DEPLOY)[1]
    assert f"stack dev ({shown} resources)" in done.stdout


def check_cost(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    assert "Idle monthly cost (stack dev): $" in done.stdout


def check_deploy_check(done: subprocess.CompletedProcess[str]) -> None:
    # no Pulumi CLI, credentials or Docker here: one sentence naming them, as the doc says
    assert done.returncode == 1, done.stdout
    message = done.stderr.strip()
    assert "\n" not in message and message.startswith("make deploy STACK=dev cannot start:")


def check_bootstrap(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    shown = DEPLOY.split("--dry-run\n```\n\n```console\n", 1)[1].split("```", 1)[0]
    printed = done.stdout.splitlines()
    assert [line for line in shown.splitlines() if line != "..." and line not in printed] == []


def check_setup(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr


CHECKS = {
    "make setup": check_setup,
    "make plan": check_plan,
    "make cost": check_cost,
    ".venv/bin/python scripts/deploy_check.py --stack dev": check_deploy_check,
    "scripts/bootstrap --project my-mage-dev --github-repository your-org/mage-gcp "
    "--github-repository-id 123456789 --dry-run": check_bootstrap,
}


def no_cloud_tools(bin_dir: Path) -> Path:
    """A PATH entry with a shell and Python but none of pulumi, docker, gcloud (a fresh laptop)."""
    bin_dir.mkdir()
    for tool in ("bash", "env"):
        (bin_dir / tool).symlink_to(Path(shutil.which(tool)).resolve())
    (bin_dir / "python3").symlink_to(Path(sys.executable).resolve())
    return bin_dir


def test_every_offline_step_has_a_check():
    assert sorted(offline_commands()) == sorted(CHECKS)


@pytest.mark.parametrize("command", offline_commands())
def test_deploy_offline_step_works_as_printed(command: str, tmp_path: Path):
    env = clean_env(tmp_path)
    if command.startswith((".venv/bin/python scripts/deploy_check.py", "scripts/bootstrap")):
        env["PATH"] = str(no_cloud_tools(tmp_path / "bin"))
    assert shlex.split(command)
    CHECKS[command](run(command, env))

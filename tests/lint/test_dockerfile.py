"""The Dockerfile, checked statically (fast; tests/cloudrun/test_image.py builds and runs it): a
digest-pinned Debian base whose Python is 3.11, Mage and our libraries installed from uv.lock
alone (the `mage` group, --frozen), the project copied after the dependencies (an edit does not
reinstall), a non-root numeric USER and the runner as the command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mage_runner

from infra.components.runtime_env import IMAGE_USER
from mage_project.utils.image_contract import (
    DEFAULT_TAXI_DATA_BASE_URL,
    RUNNER,
    runner_argv,
)
from mage_project.utils.image_contract import REPO_ROOT as ROOT


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_base_is_debian_bookworm_slim_pinned_by_digest():
    args = dict(a.split("=", 1) for name, a in instructions() if name == "ARG" and "=" in a)
    base = args["BASE_IMAGE"]
    assert re.fullmatch(r"docker\.io/library/debian:bookworm-slim@sha256:[0-9a-f]{64}", base), base
    froms = [a.split()[0] for name, a in instructions() if name == "FROM"]
    assert froms[0] == "${BASE_IMAGE}", "the first stage must start from the pinned base"
    runs = " ".join(a for name, a in instructions() if name == "RUN")
    assert "python3.11" in runs and "apt-get install" in runs


def test_dependencies_come_from_the_lock_alone():
    runs = [a for name, a in instructions() if name == "RUN"]
    (sync,) = [r for r in runs if "uv sync" in r]
    for flag in ("--frozen", "--no-dev", "--only-group mage", "--no-install-project"):
        assert flag in sync, f"uv sync without {flag}"
    assert "UV_COMPILE_BYTECODE=1" in sync and "--mount=type=cache" in sync
    assert not [r for r in runs if re.search(r"\bpip install\b(?!.*\buv==)", r)], (
        "only uv itself may come from pip; everything else from uv.lock"
    )
    assert not (ROOT / "docker" / "requirements.txt").exists()


def test_the_lock_is_copied_before_the_project():
    copies = [a for name, a in instructions() if name == "COPY"]
    lock = next(i for i, c in enumerate(copies) if "uv.lock" in c)
    project = next(i for i, c in enumerate(copies) if c.startswith("mage_project/"))
    assert lock < project, "a project edit would reinstall every package"
    assert any(re.search(r"\bmage_project/ /home/src/mage_project/?$", c) for c in copies)
    assert any(re.search(r"\bscripts/mage_runner/ /home/src/mage_runner/?$", c) for c in copies)


def test_runtime_settings():
    steps = instructions()
    env = " ".join(args for name, args in steps if name == "ENV")
    for setting in (
        "USER_CODE_PATH=/home/src/mage_project",
        "MAGE_DATA_DIR=/home/src/mage_data",
        "REQUIRE_USER_AUTHENTICATION=1",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false",
        "PATH=/opt/venv/bin:",
    ):
        assert setting in env
    assert ("EXPOSE", "6789") in steps
    # The stack always sets TAXI_DATA_BASE_URL; its default is the contract's, not a copy here.
    assert DEFAULT_TAXI_DATA_BASE_URL not in (ROOT / "Dockerfile").read_text()
    users = [args for name, args in steps if name == "USER"]
    uid, gid = IMAGE_USER
    assert users and users[-1] == f"{uid}:{gid}", "the dev project volume is mounted as 10001"


def test_the_command_is_the_contracts_runner():
    """CMD is image_contract's ``python -m mage_runner start mage_project`` (the planned service
    and jobs run the same RUNNER), and RUNNER starts the entrypoint package the image copies."""
    steps = instructions()
    assert steps[-1][0] == "CMD"
    assert json.loads(steps[-1][1]) == runner_argv("start")
    assert ("python", "-m", mage_runner.__name__) == RUNNER
    assert (Path(mage_runner.__file__).parent / "__main__.py").is_file()


def test_dockerignore_sends_only_what_the_dockerfile_copies():
    rules = [
        r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and not r.startswith("#")
    ]
    assert rules[0] == "*", "the build context should be an allowlist"
    assert {"!pyproject.toml", "!uv.lock", "!mage_project/", "!scripts/mage_runner/"} <= set(rules)
    assert "mage_project/.file_versions/" in rules


def test_nothing_pins_for_python_3_10_any_more():
    for path in [ROOT / "pyproject.toml", *ROOT.glob("scripts/mage_runner/*.py"),
                 *ROOT.glob("mage_project/utils/*.py")]:  # fmt: skip
        text = path.read_text()
        assert "UP017" not in text and "3.10" not in text, f"{path.name} still works around 3.10"


def test_a_library_added_as_the_readme_says_is_installed_by_the_image(tmp_path):
    """README's command for a block's own library puts it in the `mage` group of the lock, which
    is what the Dockerfile's `uv sync --only-group mage` installs (checked above). Offline: the
    package (yamllint, a dev tool) is already in the lock and uv's cache."""
    import shutil
    import subprocess

    readme = (ROOT / "README.md").read_text()
    (command,) = re.findall(r"^\s*(\.venv-uv/bin/uv add --group mage) <package>$", readme, re.M)
    uv = shutil.which("uv") or str(ROOT / ".venv-uv" / "bin" / "uv")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)

    def image_group() -> str:
        return subprocess.run(
            [uv, "export", "--frozen", "--no-dev", "--only-group", "mage", "--no-hashes",
             "--no-emit-project"],
            cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip

    assert "yamllint==" not in image_group()
    added = subprocess.run(
        [uv, *command.split()[1:], "yamllint", "--offline", "--no-sync"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "yamllint==" in image_group()

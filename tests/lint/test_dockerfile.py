"""The image, checked statically (no Docker engine here): pinned base, the project copied in, and
extra libraries at exactly the versions of uv.lock, installable on the base image's Python."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from infra.components.runtime_env import IMAGE_USER

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "docker" / "requirements.txt"
# mageai/mageai images are built FROM python:3.10 (mage-ai's Dockerfile; mage-ai issue #5368).
IMAGE_PYTHON = "3.10.16"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def lock_versions() -> dict[str, set[str]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        versions.setdefault(canonicalize_name(package["name"]), set()).add(
            package.get("version", "")
        )
    return versions


def pins() -> dict[str, Requirement]:
    reqs = [
        Requirement(line)
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return {canonicalize_name(r.name): r for r in reqs}


def test_base_image_is_mage_pinned_to_the_locked_version():
    froms = [args for name, args in instructions() if name == "FROM"]
    assert len(froms) == 1
    locked = lock_versions()["mage-ai"]
    assert len(locked) == 1
    assert froms[0] == f"mageai/mageai:{locked.pop()}"


def test_project_and_requirements_are_copied_and_installed():
    steps = instructions()
    copies = [args for name, args in steps if name == "COPY"]
    assert any(re.search(r"\bmage_project/ /home/src/mage_project/?$", c) for c in copies), copies
    assert any("docker/requirements.txt" in c for c in copies)
    runs = " ".join(args for name, args in steps if name == "RUN")
    assert re.search(r"pip install --no-cache-dir .*-r /tmp/requirements-image.txt", runs)


def test_runtime_settings():
    steps = instructions()
    env = " ".join(args for name, args in steps if name == "ENV")
    for setting in (
        "USER_CODE_PATH=/home/src/mage_project",
        "MAGE_DATA_DIR=/home/src/mage_data",
        "REQUIRE_USER_AUTHENTICATION=1",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false",
    ):
        assert setting in env
    assert ("EXPOSE", "6789") in steps
    assert steps[-1] == ("CMD", '["python", "-m", "mage_runner", "start", "mage_project"]')
    users = [args for name, args in steps if name == "USER"]
    assert users and not users[-1].startswith(("0", "root")), "the image must not run as root"
    uid, gid = IMAGE_USER
    assert users[-1] == f"{uid}:{gid}", "the dev project volume is mounted as another user"


def test_dockerignore_sends_only_what_the_dockerfile_copies():
    rules = [
        r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and not r.startswith("#")
    ]
    assert rules[0] == "*", "the build context should be an allowlist"
    assert {"!mage_project/", "!scripts/mage_runner/", "!docker/requirements.txt"} <= set(rules)
    assert "mage_project/.file_versions/" in rules


def test_pins_match_uv_lock():
    locked = lock_versions()
    for name, req in pins().items():
        (spec,) = req.specifier
        assert spec.operator == "==", f"{name} is not pinned exactly"
        assert spec.version in locked.get(name, set()), (
            f"{name}=={spec.version} is not the version in uv.lock"
        )


def test_every_runtime_dependency_of_the_mage_group_is_pinned():
    group = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["mage"]
    direct = {canonicalize_name(Requirement(spec).name) for spec in group} - {"mage-ai"}
    assert direct <= set(pins()), f"missing from docker/requirements.txt: {direct - set(pins())}"
    assert "mage-ai" not in pins(), "the base image provides mage-ai"
    assert pins()["psycopg"].extras == {"binary"}


@pytest.mark.parametrize("name", sorted(pins()))
def test_pins_install_on_the_base_image_python(name):
    try:
        requires = metadata(name).get("Requires-Python")
    except PackageNotFoundError:
        pytest.fail(f"{name} is not installed in .venv, so its Python support cannot be checked")
    assert not requires or SpecifierSet(requires).contains(IMAGE_PYTHON), (
        f"{name} requires Python {requires}, but the base image runs {IMAGE_PYTHON}"
    )


def test_requirements_file_is_what_the_generator_writes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "export_requirements.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_generator_finds_the_uv_that_setup_installed(tmp_path, monkeypatch):
    """A fresh machine's user has no uv on PATH: scripts/setup.sh puts one in .venv-uv."""
    import shutil

    uv = shutil.which("uv") or str(ROOT / ".venv-uv" / "bin" / "uv")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv-uv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-uv" / "bin" / "uv").symlink_to(uv)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    sys.path.insert(0, str(ROOT / "docker"))
    try:
        from export_requirements import locked_versions
    finally:
        sys.path.remove(str(ROOT / "docker"))
    assert "pyarrow" in locked_versions(tmp_path)

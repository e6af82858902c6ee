"""Set-up where Python 3.11 is missing (issue 20): scripts/setup.sh lets uv provide its managed
Python 3.11 (no ``UV_PYTHON_DOWNLOADS=never``), and where that is impossible -- here, no download
can succeed -- it ends in one sentence saying what to install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mage_project.utils.image_contract import REPO_ROOT as ROOT

UV = next(
    (p for p in (ROOT / ".venv-uv" / "bin" / "uv", shutil.which("uv")) if p and Path(p).exists()),
    None,
)


@pytest.fixture
def no_python_311(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has bash, dirname and uv but no Python at all, an empty uv
    Python store, and a download mirror that refuses connections (a closed loopback port)."""
    if UV is None:
        pytest.fail("uv is missing; run scripts/setup.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "env"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "uv").symlink_to(UV)
    return {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path / "home"),
        "UV_CACHE_DIR": str(tmp_path / "cache"),
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "pythons"),
        "UV_PYTHON_BIN_DIR": str(tmp_path / "python-bin"),
        "UV_PYTHON_INSTALL_MIRROR": "http://127.0.0.1:9/python-build-standalone",
        "UV_NO_CONFIG": "1",
    }


def test_without_python_311_uv_is_asked_and_one_sentence_says_what_to_install(no_python_311):
    run = subprocess.run([str(ROOT / "scripts" / "setup_python.sh")], env=no_python_311,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "asking uv for its managed Python 3.11" in run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    sentence = lines[0]
    assert sentence.startswith("setup: there is no Python 3.11 here and uv could not download one")
    assert "install Python 3.11" in sentence and sentence.endswith("re-run make up.")


def test_with_python_311_on_path_nothing_is_downloaded(no_python_311, tmp_path):
    found = subprocess.run(
        [str(UV), "python", "find", "--system", "3.11"], capture_output=True, text=True
    )
    if found.returncode != 0:
        pytest.skip("no Python 3.11 on this machine to put on PATH")
    (Path(no_python_311["PATH"]) / "python3.11").symlink_to(found.stdout.strip())
    run = subprocess.run([str(ROOT / "scripts" / "setup_python.sh")], env=no_python_311,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "asking uv" not in run.stdout


def test_setup_lets_uv_download_python_and_runs_the_python_step():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "UV_PYTHON_DOWNLOADS=never" not in setup
    assert "scripts/setup_python.sh" in setup


def test_a_python_uv_installed_before_is_used(no_python_311):
    """A managed Python 3.11 in uv's store (what `uv python install 3.11` leaves) is enough."""
    found = subprocess.run(
        [str(UV), "python", "find", "--system", "3.11"], capture_output=True, text=True
    )
    if found.returncode != 0:
        pytest.skip("no Python 3.11 on this machine to stand in for a managed one")
    managed = (
        Path(no_python_311["UV_PYTHON_INSTALL_DIR"]) / "cpython-3.11.7-linux-x86_64-gnu" / "bin"
    )
    managed.mkdir(parents=True)
    (managed / "python3.11").symlink_to(found.stdout.strip())
    run = subprocess.run([str(ROOT / "scripts" / "setup_python.sh")], env=no_python_311,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "asking uv" not in run.stdout

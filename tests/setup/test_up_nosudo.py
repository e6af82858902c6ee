"""`make up` as a user without sudo rights starts the twin (issue 20): a throwaway OS user with no
sudoers entry clones this repository's HEAD, runs `make up` (set-up included: uv from PyPI into
.venv-uv, both environments from uv.lock, no apt, no root) and the Mage UI answers on its port.
The user's uv cache starts as hard links to this machine's (scripts/throwaway_user.sh), so the
set-up installs from cached wheels; everything else is as a new user's first `make up`."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from twin.ports import PORT_ENV_VARS, free_port

from mage_project.utils.image_contract import REPO_ROOT as ROOT

SCRIPT = ROOT / "scripts" / "check_up_nosudo.sh"

pytestmark = [pytest.mark.root, pytest.mark.timeout(1500)]


def uv_cache_of_the_invoking_user() -> str | None:
    """The cache `make test`'s set-up filled: UV_CACHE_DIR, else the cache of the user who ran
    `make test` (the `root` session runs through `sudo -n` with a throwaway HOME)."""
    if os.environ.get("UV_CACHE_DIR"):
        return os.environ["UV_CACHE_DIR"]
    home = pwd.getpwnam(os.environ["SUDO_USER"]).pw_dir if os.environ.get("SUDO_USER") else None
    cache = Path(home or os.path.expanduser("~")) / ".cache" / "uv"
    return str(cache) if cache.is_dir() else None


def test_make_up_as_a_user_without_sudo_starts_the_twin(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "this test needs root to create a throwaway user; make test runs it via sudo -n"
        )
    if shutil.which("runuser") is None or shutil.which("useradd") is None:
        pytest.fail("runuser and useradd are missing; install the util-linux and passwd packages")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWIN_", "MAGE_"))}
    ports = {names[-1] if service == "mage" else names[0]: str(free_port())
             for service, names in PORT_ENV_VARS.items()}  # fmt: skip
    env |= {"CHECK_MAGE_PORT": ports.pop("TWIN_MAGE_PORT"), **ports, "CHECK_TIMEOUT_S": "1200"}
    if seed := uv_cache_of_the_invoking_user():
        env["UV_CACHE_SEED"] = seed
    done = subprocess.run(
        ["bash", str(SCRIPT), str(ROOT)], env=env, capture_output=True, text=True, timeout=1440
    )
    output = done.stdout + done.stderr
    (tmp_path / "check_up_nosudo.log").write_text(output)
    assert "sudo rights: none" in output, output[-4000:]
    assert done.returncode == 0 and "the Mage UI answered after" in output, output[-6000:]

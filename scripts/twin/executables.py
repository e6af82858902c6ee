"""The programs the twin runs: the emulators' interpreter and Mage."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from twin.errors import TwinError
from twin.layout import REPO_ROOT


def emulator_python() -> Path:
    """The interpreter of the emulators' environment (``.venv-twin``)."""
    path = Path(os.environ.get("TWIN_EMULATOR_PYTHON", REPO_ROOT / ".venv-twin" / "bin" / "python"))
    if not path.exists():
        raise TwinError(
            f"The emulators' Python environment is missing ({path}); run `make setup` "
            "(scripts/setup.sh) to create .venv-twin."
        )
    return path


def mage_executable() -> Path:
    """The ``mage`` command of the project's environment."""
    candidates = [Path(sys.executable).parent / "mage", REPO_ROOT / ".venv" / "bin" / "mage"]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    found = shutil.which("mage")
    if found:
        return Path(found)
    raise TwinError("The `mage` command is missing; run `make setup` to create .venv with mage-ai.")

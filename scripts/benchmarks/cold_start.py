"""`make bench`'s UI cold start: the contract layer's measurement (tests/cloudrun/test_cold_start.py,
run here as its own pytest session: the built image, the planned UI container of each stack, the
second start after Mage's database is migrated), read back from the artifact it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from twin.layout import REPO_ROOT

ARTIFACT = REPO_ROOT / "test-artifacts" / "cold_start.json"
TEST = "tests/cloudrun/test_cold_start.py"
#: issue 19: container start to the startup probe passing, the image pull aside.
TARGET_S = 8.0


class ColdStartUnavailable(RuntimeError):
    """The measurement could not run here; the message says why in one sentence."""


def measure_cold_start(timeout_s: float = 1800) -> dict[str, dict[str, float]]:
    """Phases per stack (``runner``, ``probe``, ``first_page``: seconds from the container's
    start), freshly measured: the artifact is removed first, so a failed run reports nothing."""
    if os.geteuid() != 0:
        raise ColdStartUnavailable(
            "the UI cold start runs the image in the contract layer, which needs root "
            "(mount namespaces, uid 10001); run make bench as root or with sudo -E"
        )
    ARTIFACT.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:randomly", "-n", "0"]
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0 or not ARTIFACT.exists():
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        raise ColdStartUnavailable(f"{TEST} failed ({tail[0]}); run it alone to see why")
    figures = json.loads(ARTIFACT.read_text())
    return {stack: {k: v for k, v in f.items() if k != "image"} for stack, f in figures.items()}

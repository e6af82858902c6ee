"""`make plan` in an 80-column terminal: nothing beyond the edge, every resource's type, name and
every key setting still there (settings go under the resource instead of a squeezed column)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tools.plan import key_settings, short_type

from mage_project.utils.image_contract import REPO_ROOT as ROOT
from tests.infra.infra_plans import planned


@pytest.fixture(scope="module")
def narrow() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "GOOGLE_"))}
    env["COLUMNS"] = "80"
    done = subprocess.run(
        [sys.executable, "-m", "tools.plan", "--stack", "dev"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def squeezed(text: str) -> str:
    """The output with borders and line breaks folded to single spaces."""
    return " ".join(text.replace("│", " ").split())


def test_nothing_beyond_80_columns(narrow: str):
    assert max(len(line) for line in narrow.splitlines()) <= 80


def test_every_resource_and_each_of_its_key_settings_is_shown(narrow: str):
    flat = squeezed(narrow)
    resources = [r for r in planned("dev").resources if r.custom]
    assert len(resources) > 50
    for r in resources:
        assert f"{short_type(r.type)} {r.name}" in flat, r.name
        for pair in key_settings(r).split("  "):
            assert squeezed(pair) in flat, (r.name, pair)


def test_the_database_settings_are_readable(narrow: str):
    lines = narrow.splitlines()
    at = next(
        i for i, line in enumerate(lines) if "sql.DatabaseInstance  database-instance" in line
    )
    below = " ".join(lines[at + 1 : at + 4])
    for setting in ("version=POSTGRES_16", "tier=db-f1-micro", "ssl=ENCRYPTED_ONLY"):
        assert setting in below

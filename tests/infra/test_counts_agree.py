"""`make cost` and `make plan` count the same resources (components are groupings, and `make
cost` says how many it left out and why)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from mage_project.utils.image_contract import REPO_ROOT as ROOT


def cli(script: str, stack: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "GOOGLE_"))}
    env["COLUMNS"] = "400"
    done = subprocess.run(
        [sys.executable, "-m", f"tools.{script}", "--stack", stack],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cost_and_plan_count_the_same_resources(stack: str):
    plan = cli("plan", stack)
    cost = cli("cost", stack)
    planned = int(re.search(rf"stack {stack} \((\d+) resources\)", plan)[1])
    components = int(re.search(r"resources of \d+ types in (\d+) components", plan)[1])
    assert f"{planned} planned resources of stack {stack} (as `make plan` counts them" in cost
    assert f"not its {components} components)" in cost

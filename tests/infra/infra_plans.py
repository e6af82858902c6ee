"""Cached offline plans of the committed stacks and a helper to build violating variants."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from functools import cache
from typing import Any

from tools.offline import Plan, PlannedResource, run_program

from mage_project.utils.image_contract import REPO_ROOT


@cache
def planned(stack: str, overrides: tuple[tuple[str, Any], ...] = ()) -> Plan:
    """Cached run of the program for a stack (overrides as key/value pairs)."""
    return run_program(stack, dict(overrides))


def mutated(
    resources: list[PlannedResource], type_: str, change, index: int = 0
) -> list[PlannedResource]:
    """A copy of the plan where ``change(inputs)`` edited the index-th resource of type_."""
    out, seen = [], 0
    for r in resources:
        if r.type == type_:
            if seen == index:
                inputs = copy.deepcopy(r.inputs)
                change(inputs)
                r = PlannedResource(r.type, r.name, inputs, r.parent, r.custom)
            seen += 1
        out.append(r)
    if seen <= index:
        raise AssertionError(f"the plan has no {type_} #{index} to mutate")
    return out


def tool_cli(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tools.<tool> ARGS`` as `make plan`/`make cost` run it, without cloud settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "GOOGLE_"))}
    env["COLUMNS"] = "400"  # one table row per line
    return subprocess.run(
        [sys.executable, "-m", f"tools.{tool}", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

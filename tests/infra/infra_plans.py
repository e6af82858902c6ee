"""Cached offline plans of the committed stacks and a helper to build violating variants."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from tools.offline import Plan, PlannedResource, run_program


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

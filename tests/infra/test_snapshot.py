"""The planned resource graph of each committed stack, snapshotted with syrupy: our offline preview.

Any change to infra/ (a new resource, a changed input, a different parent) changes the snapshot in
tests/infra/__snapshots__/, so it shows up as a reviewable diff. After an intended change:

    .venv/bin/python -m pytest tests/infra/test_snapshot.py --snapshot-update

The graph is deterministic: resources sorted by type and name (they register concurrently),
mock outputs derived from names, the repository path replaced by ``<repo>``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tools.offline import REPO_ROOT, Plan

from tests.infra.infra_plans import planned


def _component(parent_urn: str) -> str:
    """'urn:…::pulumi:pulumi:Stack$mage-gcp:apis:Apis::apis' -> 'mage-gcp:apis:Apis::apis'."""
    _, sep, owner = parent_urn.rpartition("$")
    return owner if sep else "(stack)"


def _portable(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(str(REPO_ROOT), "<repo>")
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_portable(v) for v in value]
    return value


def resource_graph(plan: Plan) -> dict[str, Any]:
    resources = sorted(plan.resources, key=lambda r: (r.type, r.name))
    return {
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "parent": _component(r.parent),
                "component": not r.custom,
                "inputs": _portable(r.inputs),
            }
            for r in resources
        ],
        "outputs": _portable(plan.outputs),
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_planned_resource_graph(stack: str, snapshot):
    assert resource_graph(planned(stack)) == snapshot


def test_graph_is_portable_and_names_are_unique(stack_plan: Plan):
    graph = resource_graph(stack_plan)
    text = json.dumps(graph)
    assert str(REPO_ROOT) not in text
    keys = [(r["type"], r["name"]) for r in graph["resources"]]
    assert len(keys) == len(set(keys))
    assert {r["parent"] for r in graph["resources"] if r["component"]} == {"(stack)"}


def test_graph_does_not_depend_on_registration_order(stack_plan: Plan):
    shuffled = Plan(
        stack=stack_plan.stack,
        config=stack_plan.config,
        resources=list(reversed(stack_plan.resources)),
        outputs=stack_plan.outputs,
    )
    assert resource_graph(shuffled) == resource_graph(stack_plan)

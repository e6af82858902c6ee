"""The planned-resource model shared by the mock harness, invariants, plan and cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registers: type token, logical name, inputs (wire names)."""

    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    parent: str = ""
    custom: bool = True
    # URNs of explicit dependencies (``depends_on``) and the ``ignore_changes`` property paths.
    dependencies: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()

    def get(self, *path: str | int, default: Any = None) -> Any:
        """Nested lookup: ``r.get("settings", "ipConfiguration", "ipv4Enabled")``."""
        return dig(self.inputs, *path, default=default)


def dig(value: Any, *path: str | int, default: Any = None) -> Any:
    for step in path:
        in_list = (
            isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value)
        )
        in_dict = isinstance(value, dict) and step in value
        if not (in_list or in_dict):
            return default
        value = value[step]
    return value


def of_type(resources: list[PlannedResource], *types: str) -> list[PlannedResource]:
    return [r for r in resources if r.type in types]

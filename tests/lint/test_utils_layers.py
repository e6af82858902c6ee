"""Every import in mage_project/utils points down (issue 18): each module imports only modules of
a lower layer, function-level (lazy) imports included, so there is no cycle and no sideways
reach. The table is docs/CONTRACTS.md's (Mage project section); a new module needs a row.

On the old code this failed: locks.py and postgres.py imported each other, gcs.py took
``writing`` from download.py and ``iter_typed`` from transform.py, commit.py and ingest.py
imported each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[2] / "mage_project" / "utils"

#: Top to bottom; modules of one layer do not import each other.
LAYERS: list[tuple[str, set[str]]] = [
    ("the commit", {"commit"}),
    ("the steps", {"ingest"}),
    ("sinks", {"bigquery", "postgres"}),
    ("sink helpers", {"lake", "locks", "warehouse_objects"}),
    ("load, transform, storage", {"download", "transform", "gcs", "pg_connection"}),
    ("peer calls, headers, previews", {"clients", "header", "preview", "retries"}),
    ("deadlines, local files", {"deadline", "files"}),
    ("values", {"results", "settings", "slices"}),
    ("contracts", {"env_contract", "errors", "image_contract", "manifest", "schema", "typed_file"}),
]


def layer_of(module: str) -> int:
    for index, (_, modules) in enumerate(LAYERS):
        if module in modules:
            return index
    raise AssertionError(f"mage_project/utils/{module}.py has no layer in LAYERS; add it")


def imported(path: Path) -> set[str]:
    """The mage_project.utils modules ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "mage_project.utils":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("mage_project.utils."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mage_project.utils."):
                    found.add(alias.name.split(".")[2])
    return found


MODULES = sorted(p.stem for p in UTILS.glob("*.py") if p.stem != "__init__")


def test_every_module_has_a_layer_and_the_table_names_no_missing_module():
    assert sorted(m for _, modules in LAYERS for m in modules) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down(module):
    mine = layer_of(module)
    upward = sorted(m for m in imported(UTILS / f"{module}.py") if layer_of(m) <= mine)
    assert not upward, (
        f"mage_project/utils/{module}.py ({LAYERS[mine][0]}) imports {', '.join(upward)} from its "
        "own layer or above; move the shared part down (docs/CONTRACTS.md, the utils layers)"
    )


def test_the_docs_table_is_this_table():
    text = (UTILS.parents[1] / "docs" / "CONTRACTS.md").read_text()
    for name, modules in LAYERS:
        row = f"| {name} | {', '.join(f'`{m}`' for m in sorted(modules))} |"
        assert row in text, f"docs/CONTRACTS.md lacks the utils layer row {row}"

"""The layers of mage_project/utils (issue 18): the import-linter contract in pyproject.toml
(kept by `lint-imports`, tests/lint/test_layers.py) names every utils module, and
docs/CONTRACTS.md shows exactly its layers, in its order.

On the old code the contract broke: locks.py and postgres.py imported each other, gcs.py took
``writing`` from download.py and ``iter_typed`` from transform.py, commit.py and ingest.py
imported each other."""

from __future__ import annotations

import re
import tomllib

from mage_project.utils.image_contract import REPO_ROOT

UTILS = REPO_ROOT / "mage_project" / "utils"
PACKAGE = "mage_project.utils."


def contract_layers() -> list[set[str]]:
    """The utils contract's layers, top to bottom, as sets of module names."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [
        c["layers"]
        for c in config["contracts"]
        if c["type"] == "layers" and all(layer.startswith(PACKAGE) for layer in c["layers"])
    ]
    return [{m.strip().removeprefix(PACKAGE) for m in layer.split("|")} for layer in layers]


def test_every_utils_module_has_one_layer():
    modules = sorted(p.stem for p in UTILS.glob("*.py") if p.stem != "__init__")
    layered = sorted(m for layer in contract_layers() for m in layer)
    assert layered == modules, "a utils module without a layer (or a layer without a module)"


def test_docs_show_the_contracts_layers_in_order():
    text = (REPO_ROOT / "docs" / "CONTRACTS.md").read_text()
    section = text.split("Every import in `utils/` points down", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    shown = [set(re.findall(r"`([a-z_]+)`", row.split("|")[2])) for row in rows]
    assert shown == contract_layers()

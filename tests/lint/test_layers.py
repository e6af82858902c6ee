"""Every import points down: `lint-imports` keeps the contracts of pyproject.toml
([tool.importlinter]: the top-level layers, no cycles), and those contracts cover every package
of the repository and are the layers docs/CONTRACTS.md shows."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from mage_project.utils.image_contract import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
CONFIG = PYPROJECT["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def top_layers() -> list[str]:
    """The layers of the contract over the top-level packages (no dotted names)."""
    (layers,) = [
        c["layers"]
        for c in CONFIG["contracts"]
        if c["type"] == "layers" and not any("." in layer for layer in c["layers"])
    ]
    return layers


def test_every_import_points_down():
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert done.returncode == 0, report[-4000:]
    assert re.search(r"Contracts: \d+ kept, 0 broken", report), report[-2000:]


def test_the_contracts_cover_every_package():
    """A package the project installs (hatch), the tests and the benchmarks: none escapes the
    layers, and the layers name nothing else."""
    installed = {
        Path(p).name for p in PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    }
    assert set(CONFIG["root_packages"]) == installed | {"tests", "benchmarks"}
    named = {name.strip() for layer in top_layers() for name in re.split(r"[|:]", layer)}
    assert named == set(CONFIG["root_packages"])


def test_the_map_shows_the_layers():
    """docs/CONTRACTS.md's layer table lists the top-level layers in the contract's order."""
    text = (REPO_ROOT / "docs" / "CONTRACTS.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [r.split("|")[1] for r in section.splitlines() if r.startswith("| `")]
    shown = [re.findall(r"`(\w+)`", row) for row in rows]
    assert shown == [re.findall(r"\w+", layer) for layer in top_layers()]


def test_the_entrypoint_loads_without_the_project():
    """The image starts `python -m mage_runner` when the dev project volume may still be empty:
    every module of mage_runner loads with no `mage_project` importable (it imports the project
    only where a run needs it, after the instance is prepared)."""
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['mage_project'] = None\n"
        "import mage_runner\n"
        "for m in pkgutil.iter_modules(mage_runner.__path__):\n"
        "    if m.name != '__main__':\n"
        "        importlib.import_module('mage_runner.' + m.name)\n"
        "print('loaded')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "loaded", done.stderr[-2000:]

"""docs/CONTRACTS.md is the map of the repository: every path it names exists, and every package
of the layout is on it."""

from __future__ import annotations

import re

from mage_project.utils.image_contract import REPO_ROOT as ROOT

TEXT = (ROOT / "docs" / "CONTRACTS.md").read_text()


def test_every_path_the_map_names_exists():
    named = set(re.findall(r"`((?:infra|mage_project|scripts|tests|docs)/[\w./-]*)`", TEXT))
    named |= {
        f"mage_project/utils/{m}"
        for m in re.findall(r"`(\w+\.py)`", TEXT.split("| module |")[1].split("\n## ")[0])
    }
    assert len(named) > 25
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_every_module_of_the_library_twin_and_tools_is_on_the_map():
    for folder in ("mage_project/utils", "scripts/twin", "scripts/tools"):
        for module in (ROOT / folder).glob("*.py"):
            if module.name not in ("__init__.py", "__main__.py"):
                assert module.name in TEXT, f"{folder}/{module.name} is not on docs/CONTRACTS.md"


def test_infra_holds_only_the_program():
    top = {
        p.name for p in (ROOT / "infra").iterdir() if not p.name.startswith((".", "__pycache__"))
    }
    assert top == {"__init__.py", "__main__.py", "config.py", "components", "policy"}

"""README.md is the contract: its quick start, commands, paths and figures must be real."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.M))


def test_quick_start_is_exactly_make_up_and_make_test():
    assert quick_start_commands() == ["make up", "make test"]


def test_ci_runs_the_readme_test_command():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[-1] == quick_start_commands()[1]


def test_every_make_command_in_the_readme_is_a_target():
    used = set(re.findall(r"`make ([a-z][a-z-]*)", README))
    assert {"up", "test", "demo", "backfill", "plan", "cost", "bench", "down"} <= used
    assert used <= makefile_targets(), used - makefile_targets()


def test_every_repository_path_the_readme_names_exists():
    paths = set(
        re.findall(r"`((?:scripts|infra|tests|mage_project|docs|benchmarks)/[\w./-]*)`", README)
    )
    paths |= set(re.findall(r"\]\(((?:docs|benchmarks)/[^)]+)\)", README))
    assert len(paths) > 10
    missing = sorted(p for p in paths if "<" not in p and "*" not in p and not (ROOT / p).exists())
    assert missing == []


def test_the_five_pipelines_are_documented_and_exist():
    names = {p.parent.name for p in (ROOT / "mage_project" / "pipelines").glob("*/metadata.yaml")}
    assert len(names) == 5
    table = README.split("## The pipelines", 1)[1].split("\n## ", 1)[0]
    assert {n for n in names if f"| `{n}` |" in table} == names


def test_benchmark_table_is_the_recorded_run():
    recorded = (ROOT / "benchmarks" / "results" / "latest.md").read_text().split("\n", 1)[1]
    shown = README.split("<!-- bench:begin -->", 1)[1].split("<!-- bench:end -->", 1)[0]
    assert shown.strip() == recorded.strip()
    assert re.search(r"- date: \d{4}-\d\d-\d\d \d\d:\d\d UTC", shown)
    assert re.search(r"- machine: .+ cores", shown)

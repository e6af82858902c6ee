"""README.md and docs/*.md are the contract: the quick start, commands, paths, links and figures
they print must be real."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from mage_project.utils.image_contract import REPO_ROOT as ROOT

README = (ROOT / "README.md").read_text()
DOCS = {p: p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}
PAGES = {ROOT / "README.md": README, **DOCS}
PATH_ROOTS = "scripts|infra|tests|mage_project|docs"
# Pages other branches write (linked from README before the lead merges them); drop a name
# as soon as the page is on main -- the link check then covers it like any other.
PENDING_PAGES: set[str] = set()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.M))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    body = re.sub(r"```.*?```", "", text, flags=re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", body, re.M)}


def resolves(path: Path, fragment: str) -> bool:
    """The file exists and, for a Markdown page, has the heading the fragment names."""
    if not path.exists():
        return False
    return not fragment or path.suffix != ".md" or fragment in anchors(path.read_text())


def test_quick_start_is_exactly_make_up_and_make_test():
    assert quick_start_commands() == ["make up", "make test"]


def test_ci_runs_the_readme_test_command():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[-1] == quick_start_commands()[1]


def test_readme_is_a_short_newcomers_page():
    assert len(README.splitlines()) <= 250
    start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    # the start, in order: make up -> the UI -> make demo -> make down
    order = [start.index(s) for s in ("make up", "http://127.0.0.1:6789", "make demo", "make down")]
    assert order == sorted(order)
    for page in ("deploy", "guarantees", "performance", "security", "cost"):
        assert f"](docs/{page}.md)" in README, page


def test_every_make_command_in_the_readme_and_docs_is_a_target():
    used = set(re.findall(r"`make ([a-z][a-z-]*)", README))
    assert {"up", "test", "demo", "backfill", "plan", "cost", "bench", "down", "deploy"} <= used
    for text in DOCS.values():
        used |= set(re.findall(r"`make ([a-z][a-z-]*)", text))
    assert used <= makefile_targets(), used - makefile_targets()


@pytest.mark.parametrize("page", list(PAGES), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_repository_path_a_page_names_exists(page: Path):
    paths = set(re.findall(rf"`((?:{PATH_ROOTS})/[\w./-]*)`", PAGES[page]))
    missing = sorted(
        p
        for p in paths
        if "<" not in p and "*" not in p and p not in PENDING_PAGES and not (ROOT / p).exists()
    )
    assert missing == []


@pytest.mark.parametrize("page", list(PAGES), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path):
    text = PAGES[page]
    links = re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", "", text, flags=re.S))
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        target, _, fragment = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        if rel in PENDING_PAGES and not path.exists():
            continue
        if not resolves(path, fragment):
            broken.append(link)
    assert broken == []


def test_the_readme_links_every_docs_page():
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)", README))
    for text in DOCS.values():
        linked |= set(re.findall(r"\]\(([\w.-]+\.md)", text))
    assert {p.name for p in DOCS} <= linked, {p.name for p in DOCS} - linked


def test_the_five_pipelines_are_documented_and_exist():
    names = {p.parent.name for p in (ROOT / "mage_project" / "pipelines").glob("*/metadata.yaml")}
    assert len(names) == 5
    for text in (README, DOCS[ROOT / "docs" / "pipelines.md"]):
        table = text.split("# The pipelines\n", 1)[1].split("\n## ", 1)[0]
        assert {n for n in names if f"| `{n}` |" in table} == names


def recorded_bench() -> str:
    return (ROOT / "scripts" / "benchmarks" / "results" / "latest.md").read_text().split("\n", 1)[1]


def test_benchmark_table_is_the_recorded_run():
    page = DOCS[ROOT / "docs" / "performance.md"]
    shown = page.split("<!-- bench:begin -->", 1)[1].split("<!-- bench:end -->", 1)[0]
    assert shown.strip() == recorded_bench().strip()
    assert re.search(r"- date: \d{4}-\d\d-\d\d \d\d:\d\d UTC", shown)
    assert re.search(r"- machine: .+ cores", shown)


def test_readme_performance_summary_is_the_recorded_run():
    rows = {
        cells[0]: cells
        for line in recorded_bench().splitlines()
        if line.startswith("| ")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    course, ours = rows["course: whole `mage run`"], rows["this project: whole `mage run`"]
    speed = float(course[1]) / float(ours[1])
    assert f"about {speed:.1f}x faster" in README
    fraction = float(ours[2]) / float(course[2])
    assert "a fifth of the memory" in README and 0.15 <= fraction <= 0.25, fraction


def make_cost(stack: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "cost", f"STACK={stack}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cost_figures_in_readme_and_docs_are_what_make_cost_prints():
    dev, prod = make_cost("dev"), make_cost("prod")
    idle = {
        s: re.search(rf"Idle monthly cost \(stack {s}\): (\$[\d,.]+)", out)[1]
        for s, out in (("dev", dev), ("prod", prod))
    }
    official = dev.split("official GCP Terraform template", 1)[1]
    official_total = re.search(r"│ total +│.*?(\$[\d,.]+) │", official)[1]
    cost_page = DOCS[ROOT / "docs" / "cost.md"]
    for figure in (idle["dev"], idle["prod"], official_total):
        assert figure in README, figure
        assert figure.lstrip("$") in cost_page, figure


def test_the_deadlines_stated_are_the_settings():
    """README and docs/run-guarantees.md state the deadlines that mage_project/utils/settings.py
    defines (one definition; the docs follow it)."""
    from mage_project.utils.settings import DEADLINES

    table = (ROOT / "docs" / "run-guarantees.md").read_text()
    documented = {
        var: float(seconds) for var, seconds in re.findall(r"\| `(TAXI_\w+)` \| (\d+) \|", table)
    }
    assert documented == dict(DEADLINES.values())
    bullet = re.search(r"\*\*Deadlines\*\*:(.*?)\n- \*\*", README, re.S)[1]
    stated = {float(m) * 60 for m in re.findall(r"(\d+) min", bullet)}
    assert stated == {seconds for _, seconds in DEADLINES.values()}, bullet

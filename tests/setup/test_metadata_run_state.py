"""Running blocks in the Mage UI leaves `git status` clean (issue 20): each pipeline's committed
metadata.yaml is what Mage 0.9.80 writes (its paths, wrapping, sorted variables), and the run
state Mage adds on every block run (status, all_upstream_blocks_executed, this machine's absolute
variables_dir) is normalised by the clean filter of .gitattributes (scripts/mage_run_state.sed,
registered by scripts/setup.sh). An edit the user makes still shows."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = sorted(
    p.parent.name for p in (ROOT / "mage_project" / "pipelines").glob("*/metadata.yaml")
)
SED = ROOT / "scripts" / "mage_run_state.sed"

MAGE_SAVES = """
import sys
from mage_ai.settings.repo import set_repo_path
project = sys.argv[1]
set_repo_path(project)
from mage_ai.data_preparation.models.pipeline import Pipeline
for name in sys.argv[2:]:
    pipeline = Pipeline.get(name, repo_path=project)
    first, *_ = pipeline.blocks_by_uuid.values()
    first.update_status("failed")  # as a notebook run does: Mage saves the pipeline
"""


def git_blob(path: str) -> str:
    """The file as git has it (the index): a running twin may have written run state."""
    return subprocess.run(
        ["git", "show", f":{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def cleaned(path: Path) -> str:
    run = subprocess.run(
        ["sed", "-E", "-f", str(SED), str(path)], capture_output=True, text=True, check=True
    )
    return run.stdout


@pytest.fixture(scope="module")
def saved_by_mage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project after Mage saved every pipeline (a block's status changed)."""
    copy = tmp_path_factory.mktemp("mage_copy") / "mage_project"
    shutil.copytree(
        ROOT / "mage_project", copy, ignore=shutil.ignore_patterns("mage_data", ".variables")
    )
    subprocess.run([sys.executable, "-c", MAGE_SAVES, str(copy), *PIPELINES], cwd=copy.parent,
                   capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    return copy


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_what_mage_writes_on_a_run_is_the_committed_file(saved_by_mage: Path, pipeline: str):
    written = saved_by_mage / "pipelines" / pipeline / "metadata.yaml"
    committed = git_blob(f"mage_project/pipelines/{pipeline}/metadata.yaml")
    assert written.read_text() != committed  # Mage did write its run state
    assert "status: failed" in written.read_text()
    assert cleaned(written) == committed


def test_an_edit_still_shows(tmp_path: Path):
    committed = git_blob("mage_project/pipelines/api_to_postgres/metadata.yaml")
    edited = tmp_path / "metadata.yaml"
    edited.write_text(committed.replace("  color: yellow\n", "  color: green\n"))
    assert cleaned(edited) != committed


def test_git_applies_the_filter_to_the_pipelines():
    attributes = (ROOT / ".gitattributes").read_text()
    assert "mage_project/pipelines/*/metadata.yaml filter=mage-run-state" in attributes
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'git config filter.mage-run-state.clean "sed -E -f scripts/mage_run_state.sed"' in setup

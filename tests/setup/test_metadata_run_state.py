"""Running blocks in the Mage UI leaves `git status` clean (issue 20): each pipeline's committed
metadata.yaml is byte for byte what the twin's Mage 0.9.80 writes after its blocks ran (its paths,
wrapping, sorted variables; ``variables_dir: null`` by mage_runner/mage_site/sitecustomize.py instead of
this machine's absolute path), and other run state (a failed block, Mage without the twin) is
stored in that form by the clean filter of .gitattributes (scripts/mage_run_state.sed, registered
by scripts/setup.sh). An edit the user makes still shows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mage_runner.site import MAGE_SITE

from mage_project.utils.image_contract import REPO_ROOT as ROOT

PIPELINES = sorted(
    p.parent.name for p in (ROOT / "mage_project" / "pipelines").glob("*/metadata.yaml")
)
SED = ROOT / "scripts" / "mage_run_state.sed"

MAGE_SAVES = """
import sys
from mage_ai.settings.repo import set_repo_path
project, status = sys.argv[1], sys.argv[2]
set_repo_path(project)
from mage_ai.data_preparation.models.pipeline import Pipeline
for name in sys.argv[3:]:
    pipeline = Pipeline.get(name, repo_path=project)
    first, *_ = pipeline.blocks_by_uuid.values()
    first.update_status(status)  # as a notebook run of the block does: Mage saves the pipeline
"""


def git_blob(path: str) -> str:
    """The file as git has it (the index): a running twin may have written run state."""
    done = subprocess.run(
        ["git", "show", f":{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def cleaned(path: Path) -> str:
    done = subprocess.run(
        ["sed", "-E", "-f", str(SED), str(path)], capture_output=True, text=True, check=True
    )
    return done.stdout


def saved_by_mage(base: Path, status: str, twin_site: bool) -> Path:
    """A copy of the project after Mage saved every pipeline with its first block's ``status``
    (the twin's Mage when ``twin_site``: its sitecustomize on PYTHONPATH)."""
    copy = base / "mage_project"
    shutil.copytree(
        ROOT / "mage_project", copy, ignore=shutil.ignore_patterns("mage_data", ".variables")
    )
    for pipeline in PIPELINES:  # start from git's copy (a running twin may have written run state)
        (copy / "pipelines" / pipeline / "metadata.yaml").write_text(
            git_blob(f"mage_project/pipelines/{pipeline}/metadata.yaml")
        )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if twin_site:
        env["PYTHONPATH"] = str(MAGE_SITE)
    subprocess.run([sys.executable, "-c", MAGE_SAVES, str(copy), status, *PIPELINES], cwd=base, env=env,
                   capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    return copy


@pytest.fixture(scope="module")
def twin_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return saved_by_mage(tmp_path_factory.mktemp("twin_run"), "executed", twin_site=True)


@pytest.fixture(scope="module")
def failed_run_plain_mage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return saved_by_mage(tmp_path_factory.mktemp("plain_run"), "failed", twin_site=False)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_run_in_the_twins_mage_writes_the_committed_bytes(twin_run: Path, pipeline: str):
    written = (twin_run / "pipelines" / pipeline / "metadata.yaml").read_text()
    assert written == git_blob(f"mage_project/pipelines/{pipeline}/metadata.yaml")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_other_run_state_is_stored_in_the_committed_form(
    failed_run_plain_mage: Path, pipeline: str
):
    written = failed_run_plain_mage / "pipelines" / pipeline / "metadata.yaml"
    committed = git_blob(f"mage_project/pipelines/{pipeline}/metadata.yaml")
    assert "status: failed" in written.read_text()
    assert "variables_dir: /" in written.read_text()  # plain Mage writes this machine's path
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

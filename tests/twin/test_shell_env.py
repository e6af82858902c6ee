"""`eval "$(python -m twin env)"` gives a shell in which psql and the stock google-cloud clients
reach the twin with no other setting (what the course does by hand)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: A clean login-like environment: none of the twin's variables, a HOME without gcloud ADC.
KEEP = ("PATH", "LANG", "LC_ALL", "TMPDIR")


def twin_shell(twin, tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in bash after ``eval "$(python -m twin env)"`` for the test's twin."""
    state = shlex.quote(str(twin.state_dir))
    env = {k: os.environ[k] for k in KEEP if k in os.environ}
    env["HOME"] = str(tmp_path)
    return subprocess.run(
        ["bash", "-c", f'set -e; eval "$({shlex.quote(sys.executable)} -m twin --state-dir {state} env)"\n{script}'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql missing: run scripts/setup.sh")
def test_psql_connects_with_the_twin_env_alone(twin, tmp_path):
    result = twin_shell(
        twin, tmp_path, "psql -X -tAc 'SELECT current_user, current_database(), count(*) FROM pg_namespace'"
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    user, database, _ = result.stdout.strip().split("|")
    assert (user, database) == (twin.env["POSTGRES_USER"], "taxi")


STOCK_CLIENTS = """
import warnings; warnings.simplefilter("ignore")
from google.cloud import bigquery, storage
from mage_project.utils.image_contract import REPO_ROOT
gcs = storage.Client()
blob = gcs.bucket("{bucket}").blob("shell-env/probe.txt")
blob.upload_from_string("from a twin shell")
bq = bigquery.Client()
rows = list(bq.query("SELECT 6 * 7 AS answer").result())
print(bq.project, blob.download_as_text(), rows[0]["answer"],
      sorted(d.dataset_id for d in bq.list_datasets()))
"""


def test_stock_google_cloud_clients_work_with_the_twin_env_alone(twin, tmp_path):
    code = STOCK_CLIENTS.format(bucket=twin.env["GCS_BUCKET"])
    result = twin_shell(twin, tmp_path, f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "mage-gcp-local from a twin shell 42 ['ny_taxi']"

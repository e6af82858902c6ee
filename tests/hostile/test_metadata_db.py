"""Class 9: Mage's own metadata database. Mage opens ``MAGE_DATABASE_CONNECTION_URL`` before any
block runs, with no connect timeout; a Postgres that accepts connections and never answers hung
the runner's ``run``, ``backfill`` and ``start`` (the UI) with an empty log. Now the runner bounds
the URL (``connect_timeout``) and checks the database first: each command ends within the
timeout with one sentence as its last line.

The frozen Postgres is ``kit.BlackHole``: a socket on 127.0.0.1 that accepts and never answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mage_runner import metadata_db

from mage_project.utils.image_contract import REPO_ROOT
from tests.hostile.kit import BlackHole

MARGIN = 8.0  # a fresh Python process on a busy 2-core machine, before the probe starts


@pytest.fixture
def frozen_postgres():
    hole = BlackHole()
    yield hole
    hole.stop()


def frozen_env(hole: BlackHole, tmp_path: Path) -> dict[str, str]:
    port = hole.url.rsplit(":", 1)[1]
    return {
        **os.environ,
        "MAGE_DATABASE_CONNECTION_URL": f"postgresql+psycopg2://mage:secret@127.0.0.1:{port}/mage",
        "MAGE_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        "MAGE_DATA_DIR": str(tmp_path / "mage_data"),
        "BACKFILL_PIPELINE": "api_to_postgres",
        "BACKFILL_DATES": "2021-01-01",
    }


@pytest.mark.parametrize(
    "command",
    [["run", "mage_project", "api_to_postgres"], ["backfill", "mage_project"],
     ["start", "mage_project", "--host", "127.0.0.1", "--port", "1"]],
    ids=["run", "backfill", "start"],
)  # fmt: skip
def test_a_frozen_metadata_database_ends_every_runner_command_within_its_timeout(
    frozen_postgres, tmp_path, command
):
    port = frozen_postgres.url.rsplit(":", 1)[1]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mage_runner", *command], cwd=REPO_ROOT,
            env=frozen_env(frozen_postgres, tmp_path), capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("the runner still waited for the frozen metadata database after 60 s")
    took = time.monotonic() - started
    last = (proc.stdout + proc.stderr).strip().splitlines()[-1]
    print(f"\nLAST LINE ({took:.1f} s): {last}")
    assert proc.returncode == 1
    assert last == (
        f"error: Mage's metadata database at 127.0.0.1:{port} (database mage) did not answer "
        "within 2 s (MAGE_DATABASE_CONNECT_TIMEOUT_SECONDS), so no pipeline can run; check that "
        "it is running and reachable and that MAGE_DATABASE_CONNECTION_URL points at it (the "
        "twin: `make up`; the cloud: the Cloud SQL instance), then re-run."
    )
    assert "secret" not in proc.stdout + proc.stderr
    assert took < 2 + MARGIN, f"took {took:.1f} s for a 2 s connect timeout"


def test_mages_own_engine_gives_up_on_a_frozen_database_with_the_bounded_url(
    frozen_postgres, tmp_path
):
    """The URL the runner hands Mage bounds Mage's own connections too: importing Mage's DB
    module (it connects at import) ends instead of hanging."""
    env = frozen_env(frozen_postgres, tmp_path)
    env["MAGE_DATABASE_CONNECTION_URL"] = metadata_db.bounded_url(
        env["MAGE_DATABASE_CONNECTION_URL"], 2
    )
    code = "import mage_ai.orchestration.db as db; print('imported', db.engine.url.query)"
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("Mage's engine still waited for the frozen database after 120 s")
    assert "imported" in proc.stdout and "connect_timeout" in proc.stdout, proc.stderr[-2000:]


def test_the_bounded_url_keeps_everything_else():
    url = "postgresql+psycopg2://u:p%40ss@/mage?host=/cloudsql/p:r:i&options=-c%20x%3Dy"
    bounded = metadata_db.bounded_url(url, 7)
    assert bounded.startswith("postgresql+psycopg2://u:p%40ss@/mage?host=")
    assert bounded.endswith("&connect_timeout=7")
    assert metadata_db.bounded_url(bounded, 9) == bounded  # the URL's own value wins
    assert metadata_db.bounded_url("sqlite:///x.db", 7) == "sqlite:///x.db"
    assert metadata_db.describe(url) == "/cloudsql/p:r:i (database mage)"
    with pytest.raises(metadata_db.MetadataDatabaseError, match="is not a positive number"):
        metadata_db.connect_timeout({"MAGE_DATABASE_CONNECT_TIMEOUT_SECONDS": "inf"})


@pytest.mark.twin
def test_a_running_metadata_database_is_checked_and_bounded(twin):
    environ = {"MAGE_DATABASE_CONNECTION_URL": twin.env["MAGE_DATABASE_CONNECTION_URL"]}
    done = metadata_db.prepare(environ)
    assert done and "answered (connect timeout 30 s)" in done
    assert environ["MAGE_DATABASE_CONNECTION_URL"].endswith("?connect_timeout=30")

"""Every run is a Mage run: after demo- and backfill-like runs on the twin, Mage's DB has each
pipeline run under its trigger or backfill, with block runs, statuses, execution dates and
runtime variables, and Mage's GCS logger put each block's log in the twin's GCS emulator, where
the UI reads it (also after the process that ran it is gone). A failed run is ``failed`` at
the failing block, with our one-sentence error in that block's log."""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from twin.pipelines import Backfill, run_pipeline, runner_command

from mage_project.utils.image_contract import REPO_ROOT

pytestmark = pytest.mark.twin

BAD_MONTH = "Runtime variable month=13 is not a month; use a number from 1 to 12."
YELLOW_BLOCKS = {"load_yellow_month", "transform_yellow_month", "export_yellow_to_postgres"}


@pytest.fixture(scope="module")
def made(twin, tmp_path_factory):
    """A good and a failing run of one trigger, and a two-day backfill (~35 s)."""
    logs = tmp_path_factory.mktemp("mage_runs")
    trigger = f"test_{uuid.uuid4().hex[:8]}"
    env = twin.subprocess_env()
    good = run_pipeline("api_to_postgres", env, log=logs / "good.log", trigger=trigger)
    bad = run_pipeline("api_to_postgres", env, {"year": 2021, "month": 13}, logs / "bad.log",
                       trigger=trigger)  # fmt: skip
    backfill = Backfill(f"{trigger} days", "2021-01-02", "2021-01-03", "day", 2)
    days = [
        run_pipeline(
            "api_to_gcs_parameterized",
            env,
            {"execution_date": day},
            logs / f"{day}.log",
            backfill=backfill,
        )  # fmt: skip
        for day in ("2021-01-02", "2021-01-03")
    ]
    return {"trigger": trigger, "good": good, "bad": bad, "days": days, "backfill": backfill}


@pytest.fixture
def mage_db(twin):
    url = twin.env["MAGE_DATABASE_CONNECTION_URL"].replace("+psycopg2", "")
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def gcs_text(twin, name: str) -> str:
    client = storage.Client(project=twin.env["GCP_PROJECT_ID"], credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": twin.env["STORAGE_EMULATOR_HOST"]})  # fmt: skip
    return client.bucket(twin.env["GCS_BUCKET"]).blob(name).download_as_text()


def runs_of(conn, where: str, value) -> list[dict]:
    rows = conn.execute(
        "SELECT r.id, r.status, r.execution_date, r.variables, r.pipeline_schedule_id, "
        "r.backfill_id, s.name, s.schedule_type, s.status FROM pipeline_run r "
        f"JOIN pipeline_schedule s ON s.id = r.pipeline_schedule_id WHERE {where} ORDER BY r.id",
        (value,),
    ).fetchall()
    keys = ("id", "status", "execution_date", "variables", "schedule_id", "backfill_id",
            "trigger", "trigger_type", "trigger_status")  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in rows]


def block_runs(conn, run_id: int) -> dict[str, str]:
    rows = conn.execute(
        "SELECT block_uuid, status FROM block_run WHERE pipeline_run_id = %s", (run_id,)
    ).fetchall()
    return dict(rows)


def log_name(run: dict, block: str, pipeline: str = "api_to_postgres") -> str:
    partition = f"{run['schedule_id']}/{run['execution_date']:%Y%m%dT%H%M%S}"
    return f"logs/mage_project/pipelines/{pipeline}/{partition}/{block}.log"


def test_the_run_results_keep_their_meaning(made):
    assert made["good"].ok and made["good"].error is None
    assert not made["bad"].ok
    assert made["bad"].error == BAD_MONTH
    assert all(result.ok for result in made["days"])
    ids = [r.mage_run_id for r in (made["good"], made["bad"], *made["days"])]
    assert None not in ids and len(set(ids)) == 4


def test_each_run_is_a_mage_run_of_its_trigger_with_block_runs(made, mage_db):
    runs = runs_of(mage_db, "s.name = %s", made["trigger"])
    assert [r["id"] for r in runs] == [made["good"].mage_run_id, made["bad"].mage_run_id]
    good, bad = runs
    assert (good["trigger_type"], good["trigger_status"]) == ("API", "INACTIVE")
    assert good["status"] == "COMPLETED"
    assert block_runs(mage_db, good["id"]) == dict.fromkeys(YELLOW_BLOCKS, "COMPLETED")
    assert bad["variables"] == {"year": 2021, "month": 13}
    assert bad["status"] == "FAILED"
    assert block_runs(mage_db, bad["id"]) == {
        "load_yellow_month": "FAILED",
        "transform_yellow_month": "UPSTREAM_FAILED",
        "export_yellow_to_postgres": "UPSTREAM_FAILED",
    }
    now = datetime.now(tz=UTC)
    assert all(0 <= (now - r["execution_date"]).total_seconds() < 3600 for r in runs)


def test_the_failed_blocks_log_in_gcs_has_our_sentence(made, mage_db, twin):
    bad = runs_of(mage_db, "r.id = %s", made["bad"].mage_run_id)[0]
    assert BAD_MONTH in gcs_text(twin, log_name(bad, "load_yellow_month"))
    good = runs_of(mage_db, "r.id = %s", made["good"].mage_run_id)[0]
    assert "replaced with" in gcs_text(twin, log_name(good, "export_yellow_to_postgres"))


def test_backfill_runs_belong_to_one_completed_mage_backfill(made, mage_db):
    (backfill_id, status, count) = mage_db.execute(
        "SELECT b.id, b.status, count(r.id) FROM backfill b JOIN pipeline_run r "
        "ON r.backfill_id = b.id WHERE b.name = %s GROUP BY b.id, b.status",
        (made["backfill"].name,),
    ).fetchone()
    assert (status, count) == ("COMPLETED", 2)
    runs = runs_of(mage_db, "r.backfill_id = %s", backfill_id)
    assert [f"{r['execution_date']:%Y-%m-%d}" for r in runs] == ["2021-01-02", "2021-01-03"]
    assert [r["variables"] for r in runs] == [
        {"execution_date": "2021-01-02"},
        {"execution_date": "2021-01-03"},
    ]
    assert {r["status"] for r in runs} == {"COMPLETED"}


def test_parallel_runs_of_one_backfill_create_it_once(made, twin, mage_db):
    """The first run of a backfill creates it under a Postgres lock (one Cloud Run task per
    slice starts them together): while the lock is held elsewhere, no run creates a row."""
    from mage_runner.runs import lock_key

    name = f"locked {uuid.uuid4().hex[:8]}"
    backfill = Backfill(name, "2021-01-04", "2021-01-04", "day", 1)
    url = twin.env["MAGE_DATABASE_CONNECTION_URL"].replace("+psycopg2", "")
    with psycopg.connect(url) as holder:
        holder.execute(
            "SELECT pg_advisory_lock(%s)", (lock_key("backfill", "api_to_gcs_parameterized", name),)
        )
        proc = subprocess.Popen(
            runner_command("api_to_gcs_parameterized", {"execution_date": "2021-01-04"},
                           backfill=backfill),
            env=twin.subprocess_env(), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        count = "SELECT count(*) FROM backfill WHERE name = %s"
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        try:
            deadline = time.monotonic() + 180
            while mage_db.execute(waiting).fetchone() == (0,):
                assert proc.poll() is None and time.monotonic() < deadline, "never waited"
                time.sleep(0.5)
            assert mage_db.execute(count, (name,)).fetchone() == (0,)
        finally:
            holder.execute("SELECT pg_advisory_unlock_all()")
    assert proc.wait(timeout=300) == 0
    assert mage_db.execute(count, (name,)).fetchone() == (1,)

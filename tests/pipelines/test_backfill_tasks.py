"""A backfill as one Cloud Run execution with one task per slice (issue 11): the task entrypoint
(``python -m mage_runner backfill``, scripts/mage_runner/backfill.py) picks its slice from CLOUD_RUN_TASK_INDEX/COUNT, and runs
locally as parallel processes against the twin; failed tasks are retried; re-runs are safe."""

from __future__ import annotations

from datetime import date

import pytest
from mage_runner.backfill import PlanError, plan_from_env, run_command, task_dates, task_position
from twin.layout import MAGE_PROJECT, REPO_ROOT
from twin.samples import generate_sample_data
from twin.tasks import run_local_tasks, run_request, task_env

MONTHS = [date(2021, 1, 1), date(2021, 2, 1), date(2021, 3, 1)]
PROJECT = REPO_ROOT / MAGE_PROJECT


def test_each_task_owns_its_slice_from_the_cloud_run_task_variables():
    env = task_env("api_to_gcs", MONTHS, 1, 3)
    assert plan_from_env(PROJECT, env) == ("api_to_gcs", MONTHS)
    assert task_position(env) == (1, 3)
    assert [task_dates(MONTHS, i, 3) for i in range(3)] == [[d] for d in MONTHS]
    assert task_dates(MONTHS, 0, 2) == [MONTHS[0], MONTHS[2]]  # fewer tasks than slices
    assert task_position({}) == (0, 1)
    with pytest.raises(PlanError, match="Task index 3 is not within a task count of 3"):
        task_position({"CLOUD_RUN_TASK_INDEX": "3", "CLOUD_RUN_TASK_COUNT": "3"})
    with pytest.raises(PlanError, match="'nope' is not a pipeline"):
        plan_from_env(PROJECT, {"BACKFILL_PIPELINE": "nope", "BACKFILL_DATES": "2021-01-01"})
    with pytest.raises(PlanError, match="BACKFILL_DATES: .*is not a date"):
        plan_from_env(PROJECT, {"BACKFILL_PIPELINE": "api_to_gcs", "BACKFILL_DATES": "soon"})


def test_the_cloud_request_starts_one_execution_with_one_task_per_slice():
    url, body = run_request(
        "my-mage-dev", "us-central1", "mage-backfill", "api_to_gcs", MONTHS, name="bf"
    )
    assert url == (
        "https://run.googleapis.com/v2/projects/my-mage-dev/locations/us-central1/"
        "jobs/mage-backfill:run"
    )
    assert body == {
        "overrides": {
            "taskCount": 3,
            "containerOverrides": [{"env": [
                {"name": "BACKFILL_PIPELINE", "value": "api_to_gcs"},
                {"name": "BACKFILL_DATES", "value": "2021-01-01,2021-02-01,2021-03-01"},
                {"name": "BACKFILL_NAME", "value": "bf"},
            ]}],
        }
    }  # fmt: skip


@pytest.mark.twin
def test_tasks_run_in_parallel_on_the_twin_land_their_months_and_rerun_safely(
    twin, twin_env, bq, tmp_path
):
    months = MONTHS[:2]
    generate_sample_data(twin.data_dir, months=[("yellow", 2021, d.month) for d in months])
    logs = tmp_path / "logs"
    for pipeline in ("api_to_gcs", "gcs_to_bigquery"):
        results = run_local_tasks(pipeline, months, twin_env, parallelism=2, logs=logs)
        assert [r.returncode for r in results] == [0, 0], [
            r.log.read_text()[-2000:] for r in results
        ]
        assert [r.dates for r in results] == [(months[0],), (months[1],)]
        first, second = results
        assert second.started < first.started + first.seconds, "the two tasks did not overlap"

    def counts() -> dict[str, int]:
        rows = bq.query(
            "SELECT source_month, COUNT(*) AS n FROM `ny_taxi.yellow_cab_data` "
            "WHERE source_month IN ('2021-01', '2021-02') GROUP BY 1 ORDER BY 1"
        ).result()
        return {r["source_month"]: r["n"] for r in rows}

    landed = counts()
    assert set(landed) == {"2021-01", "2021-02"} and all(landed.values())
    again = run_local_tasks("gcs_to_bigquery", months, twin_env, parallelism=2, logs=logs)
    assert all(r.ok for r in again)
    assert counts() == landed, "re-running the backfill changed its months"


@pytest.mark.twin
def test_a_failing_task_is_retried_and_fails_alone(twin, twin_env, tmp_path):
    missing = date(2029, 7, 1)  # no such file on the twin's file server: the run fails
    results = run_local_tasks(
        "api_to_gcs", [MONTHS[0], missing], twin_env, parallelism=2, logs=tmp_path, retries=1
    )
    ok, failed = results
    assert (ok.returncode, ok.attempts) == (0, 1)
    assert failed.returncode != 0 and failed.attempts == 2
    assert "2029-07" in failed.log.read_text()


def test_each_slice_is_one_run_recorded_in_the_invocations_backfill():
    env = {"BACKFILL_NAME": "make backfill 2021-01-01..2021-03-01 at T"}
    recorded = run_command("mage_project", "api_to_gcs", MONTHS[1], MONTHS, env)
    assert recorded[1:7] == ["-m", "mage_runner", "run", "mage_project", "api_to_gcs", "--test"]
    assert recorded[recorded.index("--runtime-vars") + 1] == '{"execution_date": "2021-02-01"}'
    assert recorded[recorded.index("--backfill") + 1] == env["BACKFILL_NAME"]
    assert recorded[recorded.index("--backfill-runs") + 1] == "3"
    assert recorded[recorded.index("--backfill-interval") + 1] == "month"


def test_local_tasks_have_their_own_mage_data_dir_as_cloud_run_tasks_do(monkeypatch, tmp_path):
    """Concurrent runs of one pipeline on one MAGE_DATA_DIR overwrite each other's block outputs
    (seen in the benchmark: a task transformed another task's month)."""
    import subprocess

    import twin.tasks as tasks

    seen = []

    def fake_run(command, env, **kwargs):
        seen.append((env["CLOUD_RUN_TASK_INDEX"], env["MAGE_DATA_DIR"]))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(tasks.subprocess, "run", fake_run)
    results = run_local_tasks("api_to_gcs", MONTHS, {"PATH": "/usr/bin"}, 3, tmp_path)
    assert all(r.ok for r in results)
    assert len({data for _, data in seen}) == 3, seen

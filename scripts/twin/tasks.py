"""A backfill as Cloud Run runs it: one task per slice, ``parallelism`` at a time.

- :func:`run_local_tasks` runs the tasks as local processes of the same entrypoint the cloud
  job runs (``python -m mage_runner backfill mage_project``) with the variables Cloud Run sets
  (``CLOUD_RUN_TASK_INDEX``/``CLOUD_RUN_TASK_COUNT``) and the execution's overrides
  (``BACKFILL_PIPELINE``/``BACKFILL_DATES``); a failed task is retried ``TASK_RETRIES`` times.
- :func:`run_request` / :func:`start_cloud_execution`: the Run API request that starts ONE
  execution of the stack's backfill job with those overrides
  (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs/run).
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mage_runner.backfill import task_dates

from mage_project.utils.image_contract import TASK_RETRIES, task_argv
from twin.layout import REPO_ROOT

RUN_API = "https://run.googleapis.com/v2"


@dataclass
class TaskResult:
    index: int
    dates: tuple[date, ...]
    returncode: int
    attempts: int
    started: float  # time.monotonic() at the first attempt
    seconds: float
    log: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0


#: The execution's overrides (the same for every task), in the order they are sent.
PLAN_VARIABLES = ("BACKFILL_PIPELINE", "BACKFILL_DATES", "BACKFILL_NAME")


def backfill_name(dates: list[date]) -> str:
    """One name for all runs of one backfill invocation (unique per start second)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"make backfill {dates[0].isoformat()}..{dates[-1].isoformat()} at {started}"


def task_env(
    pipeline: str, dates: list[date], index: int, count: int, name: str = ""
) -> dict[str, str]:
    """The variables task ``index`` of ``count`` sees (Cloud Run's and the overrides')."""
    return {
        "BACKFILL_PIPELINE": pipeline,
        "BACKFILL_DATES": ",".join(d.isoformat() for d in dates),
        "BACKFILL_NAME": name or backfill_name(dates),
        "CLOUD_RUN_TASK_INDEX": str(index),
        "CLOUD_RUN_TASK_COUNT": str(count),
    }


def task_data_dir(root: Path, pipeline: str, index: int) -> dict[str, str]:
    """Each task's own ``MAGE_DATA_DIR``, as each Cloud Run task has its own filesystem: runs of
    one pipeline that share a data dir overwrite each other's block outputs
    (``pipelines/<name>/.variables/<block>/output_0``), so a task could read another's month."""
    folder = root / "mage_data" / f"{pipeline}-task-{index:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    return {"MAGE_DATA_DIR": str(folder)}


def run_local_tasks(
    pipeline: str,
    dates: list[date],
    env: dict[str, str],
    parallelism: int,
    logs: Path,
    retries: int = TASK_RETRIES,
    on_done=None,
) -> list[TaskResult]:
    """One process per slice (task), at most ``parallelism`` at once; results by task index."""
    count, name = len(dates), backfill_name(dates)
    logs.mkdir(parents=True, exist_ok=True)

    def task(index: int) -> TaskResult:
        log = logs / f"{pipeline}-task-{index:03d}.log"
        started, attempt, code = time.monotonic(), 0, -1
        while attempt <= retries and code != 0:
            attempt += 1
            with log.open("a") as out:
                out.write(f"=== attempt {attempt}\n")
                out.flush()
                code = subprocess.run(
                    task_argv(sys.executable),
                    env={**env, **task_env(pipeline, dates, index, count, name),
                         **task_data_dir(logs, pipeline, index),
                         "CLOUD_RUN_TASK_ATTEMPT": str(attempt - 1)},
                    cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                ).returncode  # fmt: skip
        result = TaskResult(
            index, tuple(task_dates(dates, index, count)), code, attempt, started,
            time.monotonic() - started, log,
        )  # fmt: skip
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max(1, parallelism)) as pool:
        return list(pool.map(task, range(count)))


def run_request(
    project: str, region: str, job: str, pipeline: str, dates: list[date], name: str = ""
) -> tuple[str, dict]:
    """(URL, body) of the Run API call starting one execution with one task per slice."""
    url = f"{RUN_API}/projects/{project}/locations/{region}/jobs/{job}:run"
    overrides = task_env(pipeline, dates, 0, len(dates), name)
    env = [{"name": k, "value": overrides[k]} for k in PLAN_VARIABLES]
    return url, {"overrides": {"taskCount": len(dates), "containerOverrides": [{"env": env}]}}


def start_cloud_execution(
    project: str, region: str, job: str, pipeline: str, dates: list[date]
) -> str:
    """Start the execution with Application Default Credentials; returns the operation name.

    Needs ``run.jobs.runWithOverrides`` on the job (e.g. roles/run.developer)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    url, body = run_request(project, region, job, pipeline, dates)
    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    response = AuthorizedSession(credentials).post(url, json=body, timeout=60)
    if response.status_code >= 400:
        raise RuntimeError(
            f"The Run API refused to start {job} (HTTP {response.status_code}: "
            f"{response.text[:300]}); check the stack is deployed and you may run the job."
        )
    return response.json().get("name", "")

"""One task of a backfill: the slices this task owns, each run as its own Mage pipeline run.

    python -m mage_runner backfill mage_project

A backfill is ONE execution of the Cloud Run job ``<prefix>-backfill`` with one task per slice
(``taskCount`` = number of slices; the job's ``parallelism`` caps how many run at once).
Cloud Run gives every task ``CLOUD_RUN_TASK_INDEX`` and ``CLOUD_RUN_TASK_COUNT``
(https://cloud.google.com/run/docs/container-contract#jobs-env-vars); the execution's
overrides give all of them the plan:

- ``BACKFILL_PIPELINE``: the pipeline, e.g. ``api_to_gcs``;
- ``BACKFILL_DATES``: the execution dates, comma-separated ISO days (one per slice);
- ``BACKFILL_NAME``: the Mage backfill the runs are recorded under (optional).

The task first prepares the instance like every other entrypoint of the image (Mage's secrets
key; in dev the project volume, seeded from the image when a new stack's volume is still
empty: a backfill may be the first thing a user starts). Task ``i`` of ``n`` then runs
``dates[i::n]`` (exactly one date when ``n`` = number of slices), each with its own
``execution_date`` as ``python -m mage_runner run``, so it replaces exactly that slice; a re-run
or a Cloud Run retry of the task replaces the same slices again (idempotent). Exit 1 if a run
failed, so Cloud Run retries the task (``image_contract.TASK_RETRIES``); exit 2 on a bad plan, which no
retry mends. ``scripts/twin/tasks.py`` runs the same command locally as parallel processes with
the same variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

# A task's command and its retries are the image's contract with the stack, defined in
# mage_project/utils/image_contract.py. This package imports nothing of the project when it loads
# (the dev project volume may still be empty) and starts itself as ``-m __package__``.


class PlanError(ValueError):
    """The execution's plan variables are missing or wrong; the message says what to set."""


def plan_from_env(project: Path, environ: dict[str, str] | None = None) -> tuple[str, list[date]]:
    """(pipeline, dates) from ``BACKFILL_PIPELINE`` / ``BACKFILL_DATES``."""
    from mage_project.utils.errors import TaxiDataError
    from mage_project.utils.slices import parse_execution_date

    environ = os.environ if environ is None else environ
    pipeline = environ.get("BACKFILL_PIPELINE", "").strip()
    if not pipeline:
        raise PlanError(
            "BACKFILL_PIPELINE is not set; start backfills with `make backfill` "
            "(scripts/twin/backfill.py), which sets it."
        )
    if not (project / "pipelines" / pipeline / "metadata.yaml").exists():
        raise PlanError(f"BACKFILL_PIPELINE={pipeline!r} is not a pipeline of {project.name}.")
    items = [d for d in environ.get("BACKFILL_DATES", "").split(",") if d.strip()]
    if not items:
        raise PlanError("BACKFILL_DATES names no date; pass e.g. 2021-01-01,2021-02-01.")
    try:
        return pipeline, [parse_execution_date(d) for d in items]
    except TaxiDataError as error:
        raise PlanError(f"BACKFILL_DATES: {error}") from None


def task_position(environ: dict[str, str] | None = None) -> tuple[int, int]:
    """(index, count) of this task; a single task (0, 1) outside Cloud Run."""
    environ = os.environ if environ is None else environ
    try:
        index = int(environ.get("CLOUD_RUN_TASK_INDEX", "0"))
        count = int(environ.get("CLOUD_RUN_TASK_COUNT", "1"))
    except ValueError:
        raise PlanError(
            "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT are not whole numbers."
        ) from None
    if count < 1 or not 0 <= index < count:
        raise PlanError(f"Task index {index} is not within a task count of {count}.")
    return index, count


def task_dates(dates: list[date], index: int, count: int) -> list[date]:
    """The dates task ``index`` of ``count`` owns: every ``count``-th from ``index``."""
    return dates[index::count]


def run_command(
    project: str, pipeline: str, day: date, dates: list[date], environ: dict[str, str]
) -> list[str]:
    """The command of one run owning ``day``'s slice, with ``execution_date`` = ``day``,
    recorded in the invocation's Mage backfill (``BACKFILL_NAME``); Mage's block executor runs
    the blocks' @test functions too, as under Mage's scheduler and the scheduled jobs."""
    variables = json.dumps({"execution_date": day.isoformat()}, sort_keys=True)
    daily = len(dates) > 1 and (dates[1] - dates[0]).days == 1
    name = environ.get("BACKFILL_NAME") or f"backfill {dates[0]}..{dates[-1]}"
    return [
        sys.executable, "-m", __package__, "run", project, pipeline, "--test",
        "--runtime-vars", variables, "--backfill", name,
        "--backfill-start", dates[0].isoformat(), "--backfill-end", dates[-1].isoformat(),
        "--backfill-interval", "day" if daily else "month", "--backfill-runs", str(len(dates)),
    ]  # fmt: skip


def run_task(project: str) -> int:
    """This task's slices, one run after another (the instance is already prepared)."""
    try:
        pipeline, dates = plan_from_env(Path(project).resolve())
        index, count = task_position()
    except PlanError as error:
        print(f"backfill task: {error}", file=sys.stderr, flush=True)
        return 2
    mine = task_dates(dates, index, count)
    where = f"backfill task {index + 1}/{count}"
    print(f"{where}: {pipeline} for {', '.join(map(str, mine)) or '-'}", flush=True)
    failed = 0
    for day in mine:
        started = time.monotonic()
        command = run_command(project, pipeline, day, dates, dict(os.environ))
        code = subprocess.run(command).returncode
        failed += code != 0
        status = "ok" if code == 0 else f"failed (exit {code})"
        print(f"{where}: {day} {status} in {time.monotonic() - started:.1f} s", flush=True)
    return 1 if failed else 0

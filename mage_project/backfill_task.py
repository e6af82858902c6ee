"""One task of a backfill: the slices this task owns, each run as its own `mage run`.

A backfill is ONE execution of the Cloud Run job ``<prefix>-backfill`` with one task per slice
(``taskCount`` = number of slices; the job's ``parallelism`` caps how many run at once).
Cloud Run gives every task ``CLOUD_RUN_TASK_INDEX`` and ``CLOUD_RUN_TASK_COUNT``
(https://cloud.google.com/run/docs/container-contract#jobs-env-vars); the execution's
overrides give all of them the plan:

- ``BACKFILL_PIPELINE``: the pipeline, e.g. ``api_to_gcs``;
- ``BACKFILL_DATES``: the execution dates, comma-separated ISO days (one per slice).

Task ``i`` of ``n`` runs ``dates[i::n]`` (exactly one date when ``n`` = number of slices), each
with its own ``execution_date``, so it replaces exactly that slice; a re-run or a Cloud Run
retry of the task replaces the same slices again (idempotent). Exit 1 if a run failed, so
Cloud Run retries the task (``TASK_RETRIES``). ``scripts/twin/backfill.py`` runs the same module
locally as parallel processes with the same variables.

    python -m mage_project.backfill_task
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.slices import parse_execution_date

#: How often Cloud Run retries a failed task (the job's ``max_retries``): one definition, read by
#: infra/components/backfill.py and by the local runner.
TASK_RETRIES = 2
PROJECT_DIR = Path(__file__).resolve().parent


def plan_from_env(environ: dict[str, str] | None = None) -> tuple[str, list[date]]:
    """(pipeline, dates) from ``BACKFILL_PIPELINE`` / ``BACKFILL_DATES``."""
    environ = os.environ if environ is None else environ
    pipeline = environ.get("BACKFILL_PIPELINE", "").strip()
    if not pipeline:
        raise TaxiDataError(
            "BACKFILL_PIPELINE is not set; start backfills with `make backfill` (scripts/twin/backfill.py), which sets it."
        )
    if not (PROJECT_DIR / "pipelines" / pipeline / "metadata.yaml").exists():
        raise TaxiDataError(f"BACKFILL_PIPELINE={pipeline!r} is not a pipeline of mage_project.")
    items = [d for d in environ.get("BACKFILL_DATES", "").split(",") if d.strip()]
    if not items:
        raise TaxiDataError("BACKFILL_DATES names no date; pass e.g. 2021-01-01,2021-02-01.")
    return pipeline, [parse_execution_date(d) for d in items]


def task_position(environ: dict[str, str] | None = None) -> tuple[int, int]:
    """(index, count) of this task; a single task (0, 1) outside Cloud Run."""
    environ = os.environ if environ is None else environ
    try:
        index = int(environ.get("CLOUD_RUN_TASK_INDEX", "0"))
        count = int(environ.get("CLOUD_RUN_TASK_COUNT", "1"))
    except ValueError:
        raise TaxiDataError(
            "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT are not whole numbers."
        ) from None
    if count < 1 or not 0 <= index < count:
        raise TaxiDataError(f"Task index {index} is not within a task count of {count}.")
    return index, count


def task_dates(dates: list[date], index: int, count: int) -> list[date]:
    """The dates task ``index`` of ``count`` owns: every ``count``-th from ``index``."""
    return dates[index::count]


def run_command(pipeline: str, day: date, dates: list[date], environ: dict[str, str]) -> list[str]:
    """The command of one run owning ``day``'s slice, with ``execution_date`` = ``day``.

    Where the project ships ``mage_runner`` (every run a recorded Mage pipeline run, issue 9),
    ``python -m mage_runner run …`` records it in the invocation's Mage backfill
    (``BACKFILL_NAME``); otherwise ``mage run mage_project <pipeline> --test``, the blocks'
    @test functions included (as under Mage's scheduler and the scheduled Cloud Run jobs)."""
    variables = json.dumps({"execution_date": day.isoformat()}, sort_keys=True)
    if importlib.util.find_spec("mage_runner") is not None:
        daily = len(dates) > 1 and (dates[1] - dates[0]).days == 1
        name = environ.get("BACKFILL_NAME") or f"backfill {dates[0]}..{dates[-1]}"
        return [
            sys.executable, "-m", "mage_runner", "run", PROJECT_DIR.name, pipeline, "--test",
            "--runtime-vars", variables, "--backfill", name,
            "--backfill-start", dates[0].isoformat(), "--backfill-end", dates[-1].isoformat(),
            "--backfill-interval", "day" if daily else "month", "--backfill-runs", str(len(dates)),
        ]  # fmt: skip
    sibling = Path(sys.executable).parent / "mage"
    mage = str(sibling) if sibling.exists() else shutil.which("mage") or "mage"
    return [mage, "run", PROJECT_DIR.name, pipeline, "--test", "--runtime-vars", variables]


def run_one(pipeline: str, day: date, dates: list[date]) -> int:
    """One run of ``pipeline`` owning the slice of ``day``; returns its exit code."""
    command = run_command(pipeline, day, dates, dict(os.environ))
    return subprocess.run(command, cwd=PROJECT_DIR.parent).returncode


def main() -> int:
    try:
        pipeline, dates = plan_from_env()
        index, count = task_position()
    except TaxiDataError as error:
        print(f"backfill task: {error}", file=sys.stderr)
        return 2
    mine = task_dates(dates, index, count)
    print(f"backfill task {index + 1}/{count}: {pipeline} for {', '.join(map(str, mine)) or '-'}")
    failed = 0
    for day in mine:
        started = time.monotonic()
        code = run_one(pipeline, day, dates)
        failed += code != 0
        status = "ok" if code == 0 else f"failed (exit {code})"
        print(
            f"backfill task {index + 1}/{count}: {day} {status} in {time.monotonic() - started:.1f} s"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

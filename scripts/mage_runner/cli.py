"""Command line: ``run`` a pipeline as a Mage pipeline run, or ``start`` Mage on a prepared instance.

    python -m mage_runner run mage_project green_taxi_etl [--runtime-vars JSON]
        [--trigger cloud_scheduler] [--backfill NAME --backfill-start D --backfill-end D
        --backfill-interval month --backfill-runs N]
    python -m mage_runner start mage_project [mage start options...]
    python -m mage_runner scheduler mage_project [mage start options...]   (started by ``start``)
    python -m mage_runner backfill mage_project   (a backfill execution's task: mage_runner.backfill)

``run`` prints ``Pipeline run completed.`` and exits 0 when every block completed; otherwise it
prints the failing block and its error and exits 1 (the Cloud Run job execution fails too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mage_runner import instance, metadata_db, scheduler_lock


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mage_runner", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a pipeline as a Mage pipeline run")
    run.add_argument("project", help="the Mage project folder, e.g. mage_project")
    run.add_argument("pipeline", help="the pipeline uuid, e.g. green_taxi_etl")
    run.add_argument("--runtime-vars", default="{}", help="runtime variables as a JSON object")
    run.add_argument("--trigger", default="cli", help="the trigger name the run belongs to")
    run.add_argument("--backfill", help="the backfill name the run belongs to")
    run.add_argument("--backfill-start", help="the backfill's first date (YYYY-MM-DD)")
    run.add_argument("--backfill-end", help="the backfill's last date (YYYY-MM-DD)")
    run.add_argument("--backfill-interval", choices=["day", "month"], default="month")
    run.add_argument("--backfill-runs", type=int, default=1, help="how many runs it plans")
    run.add_argument("--test", action="store_true", help="accepted for `mage run` parity; "
                     "Mage's block executor always runs the blocks' tests")  # fmt: skip
    start = sub.add_parser("start", help="prepare the instance, then exec `mage start`")
    start.add_argument("project")
    start.add_argument("mage_args", nargs=argparse.REMAINDER)
    scheduler = sub.add_parser(
        "scheduler", help="run Mage's scheduler while holding its lock (started by `start`)"
    )
    scheduler.add_argument("project")
    scheduler.add_argument("mage_args", nargs=argparse.REMAINDER)
    backfill = sub.add_parser("backfill", help="prepare the instance, then run this task's slices")
    backfill.add_argument("project")
    return parser


def _prepare(project: str) -> None:
    """Every command first prepares the instance (:func:`instance.prepare`), bounds and checks
    Mage's metadata database connection (:func:`metadata_db.prepare`, before Mage opens it)
    and says what it did."""
    for line in instance.prepare(Path(project).resolve()):
        print(f"mage_runner: {line}", flush=True)
    checked = metadata_db.prepare(os.environ)
    if checked:
        print(f"mage_runner: {checked}", flush=True)


def _variables(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise SystemExit(
            f'--runtime-vars {text!r} is not a JSON object; pass e.g. \'{{"months": "2020-10"}}\'.'
        )
    return value


def _run(args: argparse.Namespace) -> int:
    from mage_runner.runs import BackfillSpec, parse_day, run_pipeline

    variables = _variables(args.runtime_vars)
    _prepare(args.project)
    backfill = None
    if args.backfill:
        backfill = BackfillSpec(
            name=args.backfill,
            start=parse_day(args.backfill_start),
            end=parse_day(args.backfill_end),
            interval=args.backfill_interval,
            planned_runs=args.backfill_runs,
        )
    outcome = run_pipeline(args.project, args.pipeline, variables, args.trigger, backfill)
    summary = ", ".join(f"{b}={s}" for b, s in outcome.block_statuses.items())
    print(f"Mage pipeline run {outcome.pipeline_run_id}: {outcome.status} ({summary}).", flush=True)
    if outcome.error:
        print(f"Block {outcome.failed_block} failed.\n{outcome.error}", flush=True)
        return 1
    print("Pipeline run completed.", flush=True)
    return 0


def mage_start_argv(
    project: str, mage_args: Sequence[str], environ: Mapping[str, str] | None = None
) -> list[str]:
    """The command ``start`` execs once the instance is prepared (argv[0] is looked up on PATH).

    Mage's scheduler runs in its own locked process (:mod:`mage_runner.scheduler_lock`) when the
    instance type includes it and the metadata database is PostgreSQL (``environ``, by default
    the planned one: a PostgreSQL URL and no ``INSTANCE_TYPE``); then Mage itself is the web
    server only."""
    env = {metadata_db.URL_ENV: "postgresql://"} if environ is None else environ
    if scheduler_lock.locks(mage_args, env):
        return ["mage", "start", project, *scheduler_lock.web_server_args(mage_args)]
    return ["mage", "start", project, *mage_args]


def exec_argv(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str] | None:
    """What a process started as ``argv`` becomes: ``… -m mage_runner start P ARGS`` execs
    :func:`mage_start_argv` (Cloud Run sees Mage itself, and signals reach it); None when
    ``argv`` does not exec."""
    argv = list(argv)
    for i in range(len(argv) - 3):
        if argv[i : i + 3] == ["-m", __package__, "start"]:
            return mage_start_argv(argv[i + 3], argv[i + 4 :], environ)
    return None


def _backfill(args: argparse.Namespace) -> int:
    from mage_runner.backfill import run_task

    _prepare(args.project)
    return run_task(args.project)


def _start(args: argparse.Namespace) -> int:
    _prepare(args.project)
    argv = mage_start_argv(args.project, args.mage_args, os.environ)
    if scheduler_lock.locks(args.mage_args, os.environ):
        pid = scheduler_lock.spawn(args.project, args.mage_args, os.environ)
        print(
            f"mage_runner: Mage's scheduler runs only while this instance holds its lock in the "
            f"metadata database (holder pid {pid}); Mage itself runs the web server.",
            flush=True,
        )
        if scheduler_lock.INSTANCE_TYPE_ENV in os.environ:  # Mage reads it before the option
            os.environ[scheduler_lock.INSTANCE_TYPE_ENV] = scheduler_lock.WEB_SERVER
    mage = shutil.which(argv[0]) or str(Path(sys.executable).parent / argv[0])
    os.execv(mage, [mage, *argv[1:]])
    return 1  # not reached


def _scheduler(args: argparse.Namespace) -> int:
    return scheduler_lock.hold(args.project, args.mage_args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        commands = {"run": _run, "start": _start, "backfill": _backfill, "scheduler": _scheduler}
        return commands[args.command](args)
    except instance.InstanceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except metadata_db.MetadataDatabaseError as error:  # a failed run: Cloud Run retries it
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1

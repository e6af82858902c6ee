"""`make backfill`: one headless `mage run` per month (or day), each with its own execution date.

    .venv/bin/python -m twin.backfill --pipeline green_taxi_etl --start 2020-10 --end 2020-12
    .venv/bin/python -m twin.backfill --pipeline api_to_gcs_parameterized \\
        --start 2021-01-01 --end 2021-01-07

Each run gets the runtime variable ``execution_date`` (as a Mage trigger or UI backfill would),
so it owns exactly that month (or day) and re-running the backfill replaces the same slices.
Months step by default; days for ``api_to_gcs_parameterized``. On the local twin, sample months
that are missing are generated first (the real release has every month). Exits 1 if a run failed.

``--parallelism N`` runs the backfill as the cloud does: one task per slice (the Cloud Run job's
entrypoint ``python -m mage_runner backfill mage_project`` with ``CLOUD_RUN_TASK_INDEX/COUNT``), N at
a time, against the twin. ``--cloud --stack dev`` starts ONE execution of the stack's backfill
job instead (one task per slice; docs/warehouse.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from twin.console import wide_console
from twin.errors import USER_ERRORS
from twin.layout import DEFAULT_STATE_DIR, REPO_ROOT
from twin.pipelines import PipelineError, check_pipeline, run_pipeline
from twin.samples import generate_sample_data, sample_rows
from twin.session import running_twin
from twin.supervisor import Twin
from twin.tasks import TaskResult, run_local_tasks, start_cloud_execution

DAILY_PIPELINES = {"api_to_gcs_parameterized"}
#: Which taxi colour each pipeline reads (for generating missing sample months on the twin).
COLORS = {"green_taxi_etl": "green"}
MAX_RUNS = 400
#: Above this many runs (or when month-form dates expand to days) a backfill asks first.
CONFIRM_ABOVE = 31


class BackfillError(ValueError):
    """The backfill's arguments are unusable; nothing was run."""


@dataclass(frozen=True)
class Plan:
    pipeline: str
    interval: str
    dates: tuple[date, ...]
    surprise: str | None = None  # why this may be more runs than meant (None: as asked)


def surprise(pipeline: str, start: str, end: str, interval: str, runs: int) -> str | None:
    """Why ``runs`` may be more than the user meant (month-form dates stepped by day, or simply
    many runs), as a sentence part; None when the dates say what will run."""
    month_form = len(start.strip()) == 7 or len(end.strip()) == 7
    if interval == "day" and month_form and runs > 1:
        why = f"{pipeline} runs per day" if pipeline in DAILY_PIPELINES else "--interval is day"
        return f"START={start} END={end} are months but {why}, so this is {runs} runs"
    if runs > CONFIRM_ABOVE:
        return f"this is {runs} runs, one per {interval}"
    return None


def parse_day(flag: str, text: str, end: bool = False) -> date:
    """``YYYY-MM-DD``, or ``YYYY-MM`` (its first day; its last day for ``--end``)."""
    text = (text or "").strip()
    try:
        if len(text) == 7:
            first = date.fromisoformat(text + "-01")
            if not end:
                return first
            return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        return date.fromisoformat(text)
    except ValueError:
        raise BackfillError(
            f"{flag} {text!r} is not a date; use YYYY-MM-DD or YYYY-MM, e.g. {flag} 2020-10."
        ) from None


def execution_dates(start: date, end: date, interval: str) -> list[date]:
    """Every day, or the first day of every month, from ``start``'s to ``end`` inclusive."""
    if interval == "day":
        return [start + timedelta(days=n) for n in range((end - start).days + 1)]
    dates, current = [], start.replace(day=1)
    while current <= end:
        dates.append(current)
        current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return dates


def make_plan(pipeline: str, start: str, end: str, interval: str | None) -> Plan:
    """Validate everything before the first run."""
    if not pipeline:
        raise BackfillError(
            "Name the pipeline: make backfill PIPELINE=green_taxi_etl START=2020-10 END=2020-12."
        )
    try:
        check_pipeline(pipeline)
    except PipelineError as error:
        raise BackfillError(str(error)) from None
    if not start or not end:
        raise BackfillError("Give both START and END, e.g. START=2020-10 END=2020-12.")
    first, last = parse_day("--start", start), parse_day("--end", end, end=True)
    if last < first:
        raise BackfillError(f"--end {end} is before --start {start}; swap them.")
    interval = interval or ("day" if pipeline in DAILY_PIPELINES else "month")
    dates = execution_dates(first, last, interval)
    if len(dates) > MAX_RUNS:
        raise BackfillError(
            f"That is {len(dates)} runs (one per {interval}); backfill at most {MAX_RUNS} at a time."
        )
    return Plan(
        pipeline, interval, tuple(dates), surprise(pipeline, start, end, interval, len(dates))
    )


def confirmed(plan: Plan, yes: bool, console: Console) -> bool:
    """True when the dates say what will run, ``--yes`` was given, or a person at the terminal
    says yes; False (nothing runs) otherwise."""
    if plan.surprise is None or yes:
        return True
    if not sys.stdin.isatty():
        return False
    reason = plan.surprise[0].upper() + plan.surprise[1:]
    return console.input(f"{reason}. Run them? [y/N] ").strip().lower() in ("y", "yes")


def refusal(plan: Plan) -> str:
    """The one sentence when an unconfirmed backfill is bigger than its dates suggest."""
    hint = ""
    if plan.interval == "day":
        first = plan.dates[0]
        hint = f"give days (e.g. START={first} END={first + timedelta(days=6)}) or "
    return f"Nothing was run: {plan.surprise}; {hint}confirm with CONFIRM=yes (or --yes)."


def ensure_sample_months(twin: Twin, plan: Plan) -> None:
    """On a twin serving generated samples, generate the months the backfill will read."""
    if Path(twin.data_dir).resolve() != (twin.state_dir / "data").resolve():
        return  # the twin serves the user's own files: a missing month must stay a 404
    color = COLORS.get(plan.pipeline, "yellow")
    months = sorted({(color, d.year, d.month) for d in plan.dates})
    generate_sample_data(Path(twin.data_dir), months=months, rows=sample_rows())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m twin.backfill", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pipeline", default="", help="pipeline name, e.g. green_taxi_etl")
    parser.add_argument("--start", default="", help="first date: YYYY-MM or YYYY-MM-DD")
    parser.add_argument("--end", default="", help="last date (inclusive): YYYY-MM or YYYY-MM-DD")
    parser.add_argument("--interval", choices=["month", "day"], help="default: by pipeline")
    parser.add_argument(
        "--parallelism",
        type=int,
        help="run as Cloud Run tasks (one per slice), N at a time, locally against the twin",
    )
    parser.add_argument(
        "--cloud", action="store_true", help="start one execution of the stack's backfill job"
    )
    parser.add_argument("--stack", default="dev", help="with --cloud: the Pulumi stack")
    parser.add_argument(
        "--yes",
        action="store_true",
        help="run a backfill bigger than its dates suggest without asking (make: CONFIRM=yes)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("TWIN_STATE_DIR", DEFAULT_STATE_DIR)),
        help="the twin's state folder (default .twin; env TWIN_STATE_DIR)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = wide_console()
    try:
        plan = make_plan(args.pipeline, args.start, args.end, args.interval)
    except BackfillError as error:
        console.print(f"[red]error:[/] {error}", highlight=False)
        return 2
    if not confirmed(plan, args.yes, console):
        console.print(f"[red]error:[/] {refusal(plan)}", highlight=False)
        return 2
    console.print(
        f"Backfill of {plan.pipeline}: {len(plan.dates)} run(s), one per {plan.interval}, "
        f"{plan.dates[0]} → {plan.dates[-1]}."
    )
    if args.cloud:
        return cloud_backfill(plan, args.stack, console)
    if args.parallelism is not None:
        if args.parallelism < 1:
            console.print("[red]error:[/] --parallelism must be 1 or more.", highlight=False)
            return 2
        return task_backfill(plan, args.parallelism, args.state_dir, console)
    table = Table(title=f"Backfill {plan.pipeline}")
    for column in ("execution_date", "status", "seconds", "detail"):
        table.add_column(column)
    failed = 0
    try:
        with running_twin(args.state_dir, console) as twin:
            ensure_sample_months(twin, plan)
            logs = twin.state_dir / "logs" / "runs"
            for day in plan.dates:
                with console.status(f"mage run {plan.pipeline} execution_date={day} …"):
                    result = run_pipeline(
                        plan.pipeline,
                        twin.subprocess_env(),
                        {"execution_date": day.isoformat()},
                        log=logs / f"{plan.pipeline}-{day}.log",
                    )
                status = "[green]ok[/]" if result.ok else "[red]failed[/]"
                failed += not result.ok
                detail = "" if result.ok else f"{result.error} (log: {result.log})"
                console.print(f"{status} {day} {result.seconds:5.1f} s {detail}", highlight=False)
                table.add_row(day.isoformat(), status, f"{result.seconds:.1f}", detail)
    except USER_ERRORS as error:
        console.print(f"[red]error:[/] {error}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("Interrupted; runs already finished keep their slices.")
        return 130
    console.print(table)
    if failed:
        console.print(
            f"[red]{failed} of {len(plan.dates)} run(s) failed.[/] Re-run the backfill: each run replaces only its own slice."
        )
        return 1
    console.print(f"All {len(plan.dates)} run(s) succeeded.")
    return 0


def task_backfill(plan: Plan, parallelism: int, state_dir: Path, console) -> int:
    """One local process per slice, ``parallelism`` at a time (as the Cloud Run job runs)."""

    def done(result: TaskResult) -> None:
        status = "[green]ok[/]" if result.ok else "[red]failed[/]"
        days = ",".join(map(str, result.dates))
        tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
        console.print(
            f"{status} task {result.index} {days} {result.seconds:5.1f} s{tries} (log: {result.log})",
            highlight=False,
        )

    try:
        with running_twin(state_dir, console) as twin:
            ensure_sample_months(twin, plan)
            logs = twin.state_dir / "logs" / "runs"
            started = time.monotonic()
            results = run_local_tasks(
                plan.pipeline, list(plan.dates), twin.subprocess_env(), parallelism, logs,
                on_done=done,
            )  # fmt: skip
    except USER_ERRORS as error:
        console.print(f"[red]error:[/] {error}", highlight=False)
        return 1
    failed = sum(not r.ok for r in results)
    wall = time.monotonic() - started
    if failed:
        console.print(
            f"[red]{failed} of {len(results)} task(s) failed.[/] Re-run the backfill: each task replaces only its own slice."
        )
        return 1
    console.print(
        f"All {len(results)} task(s) succeeded in {wall:.1f} s (parallelism {parallelism})."
    )
    return 0


def stack_file(stack: str) -> Path:
    """The stack's config file, ``Pulumi.<stack>.yaml`` beside Pulumi.yaml at the repository root."""
    return REPO_ROOT / f"Pulumi.{stack}.yaml"


def cloud_backfill(plan: Plan, stack: str, console) -> int:
    """Start ONE execution of the stack's backfill job: one task per slice."""
    import yaml

    from infra.components.backfill import backfill_job_name
    from infra.config import ConfigError, parse

    path = stack_file(stack)
    if not path.is_file():
        console.print(
            f"[red]error:[/] There is no stack file {path.name} in {path.parent}; create the "
            f"stack first (`pulumi stack init {stack}`, docs/deploy.md) or pass STACK=<name>.",
            highlight=False,
        )
        return 2
    try:
        cfg = parse((yaml.safe_load(path.read_text()) or {}).get("config") or {})
    except (OSError, yaml.YAMLError, ConfigError) as error:
        console.print(f"[red]error:[/] stack {stack}: {error}", highlight=False)
        return 2
    from google.auth.exceptions import DefaultCredentialsError

    job = backfill_job_name(cfg.name_prefix)
    try:
        name = start_cloud_execution(cfg.project, cfg.region, job, plan.pipeline, list(plan.dates))
    except DefaultCredentialsError:
        console.print(
            "[red]error:[/] There are no Google credentials to start the backfill job with; run "
            "`gcloud auth application-default login` (an account that may run the job, e.g. "
            "roles/run.developer), then run the backfill again.",
            highlight=False,
        )
        return 1
    except Exception as error:  # noqa: BLE001 - the API's refusal: one sentence
        console.print(f"[red]error:[/] {error}", highlight=False)
        return 1
    console.print(
        f"Started {job} in {cfg.project}/{cfg.region}: {len(plan.dates)} task(s), one per "
        f"{plan.interval} ({name}). Follow it with `gcloud run jobs executions list --job {job} --region {cfg.region} --project {cfg.project}`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

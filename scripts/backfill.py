"""`make backfill`: one Mage pipeline run per month (or day), each with its own execution date.

    .venv/bin/python scripts/backfill.py --pipeline green_taxi_etl --start 2020-10 --end 2020-12
    .venv/bin/python scripts/backfill.py --pipeline api_to_gcs_parameterized \\
        --start 2021-01-01 --end 2021-01-07

Each run gets the runtime variable ``execution_date`` (as a Mage trigger or UI backfill would),
so it owns exactly that month (or day) and re-running the backfill replaces the same slices.
All runs belong to one Mage backfill (the UI's Backfills page), named after this invocation.
Months step by default; days for ``api_to_gcs_parameterized``. On the local twin, sample months
that are missing are generated first (the real release has every month). Exits 1 if a run failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)  # google-api-core's Python notices
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.table import Table  # noqa: E402
from twinlib.console import wide_console  # noqa: E402
from twinlib.core import (  # noqa: E402
    DEFAULT_STATE_DIR,
    USER_ERRORS,
    Twin,
    generate_sample_data,
    sample_rows,
)
from twinlib.pipelines import Backfill, PipelineError, check_pipeline, run_pipeline  # noqa: E402
from twinlib.session import running_twin  # noqa: E402

DAILY_PIPELINES = {"api_to_gcs_parameterized"}
#: Which taxi colour each pipeline reads (for generating missing sample months on the twin).
COLORS = {"green_taxi_etl": "green"}
MAX_RUNS = 400


class BackfillError(ValueError):
    """The backfill's arguments are unusable; nothing was run."""


@dataclass(frozen=True)
class Plan:
    pipeline: str
    interval: str
    dates: tuple[date, ...]


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
    return Plan(pipeline, interval, tuple(dates))


def mage_backfill(plan: Plan, started: datetime | None = None) -> Backfill:
    """The Mage backfill record this invocation's runs share (unique per start second)."""
    started = started or datetime.now(tz=UTC)
    first, last = plan.dates[0].isoformat(), plan.dates[-1].isoformat()
    name = f"make backfill {first}..{last} at {started:%Y-%m-%dT%H:%M:%SZ}"
    return Backfill(name, first, last, plan.interval, len(plan.dates))


def ensure_sample_months(twin: Twin, plan: Plan) -> None:
    """On a twin serving generated samples, generate the months the backfill will read."""
    if Path(twin.data_dir).resolve() != (twin.state_dir / "data").resolve():
        return  # the twin serves the user's own files: a missing month must stay a 404
    color = COLORS.get(plan.pipeline, "yellow")
    months = sorted({(color, d.year, d.month) for d in plan.dates})
    generate_sample_data(Path(twin.data_dir), months=months, rows=sample_rows())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backfill.py", description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="", help="pipeline name, e.g. green_taxi_etl")
    parser.add_argument("--start", default="", help="first date: YYYY-MM or YYYY-MM-DD")
    parser.add_argument("--end", default="", help="last date (inclusive): YYYY-MM or YYYY-MM-DD")
    parser.add_argument("--interval", choices=["month", "day"], help="default: by pipeline")
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
    console.print(
        f"Backfill of {plan.pipeline}: {len(plan.dates)} run(s), one per {plan.interval}, "
        f"{plan.dates[0]} → {plan.dates[-1]}."
    )
    table = Table(title=f"Backfill {plan.pipeline}")
    for column in ("execution_date", "status", "seconds", "detail"):
        table.add_column(column)
    failed = 0
    try:
        with running_twin(args.state_dir, console) as twin:
            ensure_sample_months(twin, plan)
            logs = twin.state_dir / "logs" / "runs"
            backfill = mage_backfill(plan)
            console.print(f"Mage backfill: {backfill.name!r}.", highlight=False)
            for day in plan.dates:
                with console.status(f"Mage run of {plan.pipeline} execution_date={day} …"):
                    result = run_pipeline(
                        plan.pipeline,
                        twin.subprocess_env(),
                        {"execution_date": day.isoformat()},
                        log=logs / f"{plan.pipeline}-{day}.log",
                        backfill=backfill,
                    )
                status = "[green]ok[/]" if result.ok else "[red]failed[/]"
                failed += not result.ok
                detail = (
                    f"Mage run #{result.mage_run_id}"
                    if result.ok
                    else f"{result.error} (log: {result.log})"
                )
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


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: the local twin, every pipeline headless (as Mage runs), then what landed.

    .venv/bin/python -m twin.demo [--state-dir DIR] [--pipeline NAME ...]

Uses the twin `make up` is running, if any (and leaves it running); otherwise starts one
without Mage and stops it at the end. Every run is a Mage pipeline run of the trigger
``make_demo``: `make up`'s UI lists it with its block runs and logs. Exits 1 if a pipeline failed or a sink is empty.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from twin.console import wide_console
from twin.errors import USER_ERRORS
from twin.landed import collect, summary_table
from twin.layout import DEFAULT_STATE_DIR
from twin.pipelines import PIPELINES, PipelineError, check_pipeline, run_pipeline
from twin.session import running_twin


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m twin.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("TWIN_STATE_DIR", DEFAULT_STATE_DIR)),
        help="the twin's state folder (default .twin; env TWIN_STATE_DIR)",
    )
    parser.add_argument(
        "--pipeline",
        action="append",
        help="run only this pipeline (repeatable; default: all five, in dependency order)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = wide_console()
    pipelines = args.pipeline or list(PIPELINES)
    try:
        for name in pipelines:
            check_pipeline(name)
        with running_twin(args.state_dir, console) as twin:
            logs = twin.state_dir / "logs" / "runs"
            failed = []
            for name in pipelines:
                with console.status(f"Mage run of {name} …"):
                    result = run_pipeline(
                        name, twin.subprocess_env(), log=logs / f"{name}.log", trigger="make_demo"
                    )
                if result.ok:
                    console.print(
                        f"[green]ok[/]     {name:<26} {result.seconds:5.1f} s  "
                        f"Mage run #{result.mage_run_id}"
                    )
                else:
                    failed.append(name)
                    console.print(
                        f"[red]failed[/] {name:<26} {result.seconds:5.1f} s  {result.error}"
                    )
                    console.print(f"       full output: {result.log}", highlight=False)
            found = collect(twin.env)
    except (*USER_ERRORS, PipelineError) as error:
        console.print(f"[red]error:[/] {error}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("Interrupted; the twin started for the demo was stopped.")
        return 130
    console.print(summary_table(found))
    empty = [f"{item.sink} {item.where}" for item in found if item.count == 0]
    if failed:
        console.print(f"[red]{len(failed)} pipeline(s) failed:[/] {', '.join(failed)}.")
    if empty and not args.pipeline:
        console.print(f"[red]Empty sinks:[/] {', '.join(empty)}.")
    if failed or (empty and not args.pipeline):
        return 1
    console.print(f"All {len(pipelines)} pipelines succeeded.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

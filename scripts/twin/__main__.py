"""The local GCP twin: `up`, `down`, `status`, `env`.

    .venv/bin/python -m twin up [--no-mage] [--state-dir DIR] [--port-mage N ...]
    .venv/bin/python -m twin down | status | env

`up` runs in the foreground: PostgreSQL, the GCS and BigQuery emulators, the taxi-file server and
Mage on 127.0.0.1; Ctrl-C (or `down` from another terminal) stops every process it started.
From Python: ``from twin.supervisor import Twin`` and ``from twin.ports import TwinPorts``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from rich.console import Console

from twin.console import env_lines, print_started, status_table
from twin.errors import USER_ERRORS, TwinError
from twin.layout import DEFAULT_STATE_DIR
from twin.ports import TwinPorts
from twin.state import TwinState
from twin.supervisor import Twin, stop_recorded

__all__ = ["Twin", "TwinError", "TwinPorts", "main"]


class _StopRequested(Exception):
    """SIGTERM/SIGHUP arrived: leave the foreground loop and stop everything."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m twin", description="The local GCP twin.")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("TWIN_STATE_DIR", DEFAULT_STATE_DIR)),
        help="where logs, data and the state file live (default .twin; env TWIN_STATE_DIR)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start everything in the foreground (Ctrl-C stops)")
    up.add_argument("--no-mage", action="store_true", help="start the services but not Mage")
    for name in TwinPorts.__dataclass_fields__:
        flag = "--port-" + name.replace("_", "-")
        up.add_argument(flag, dest=f"port_{name}", type=int, metavar="N", help=f"{name} port")
    commands.add_parser("down", help="stop a twin started from another terminal")
    commands.add_parser("status", help="show the running services and whether they answer")
    commands.add_parser("env", help="print `export` lines for the running twin's endpoints")
    return parser


def _up(args: argparse.Namespace, console: Console) -> int:
    overrides = {name: getattr(args, f"port_{name}") for name in TwinPorts.__dataclass_fields__}
    twin = Twin(args.state_dir, TwinPorts.from_env(**overrides))
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    started = time.monotonic()
    try:
        with console.status("Starting the local GCP twin…"):
            twin.start(mage=not args.no_mage)  # stops what it started if it fails
    except (KeyboardInterrupt, _StopRequested):
        console.print("Start-up interrupted; everything started so far was stopped.")
        return 130
    if twin.reused:
        print_started(twin, console, foreground=False)
        return 0
    console.print(f"Started in {time.monotonic() - started:.1f} s.")
    print_started(twin, console, foreground=True)
    try:
        while (failed := twin.failed_service()) is None:
            time.sleep(0.5)
        console.print(
            f"[red]error:[/] The {failed} service stopped unexpectedly; "
            f"see its log {twin.log_path(failed)}."
        )
        return 1
    except (KeyboardInterrupt, _StopRequested):
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        with console.status("Stopping the local GCP twin…"):
            twin.stop()
        console.print("Local GCP twin stopped.")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    try:
        if args.command == "up":
            return _up(args, console)
        if args.command == "down":
            stopped = stop_recorded(args.state_dir.resolve())
            console.print(
                f"Stopped: {', '.join(stopped)}." if stopped else "No local GCP twin is running."
            )
            return 0
        state = TwinState.load(args.state_dir.resolve())
        if args.command == "status":
            if state is None:
                console.print("No local GCP twin is running (start one with `make up`).")
                return 1
            table, healthy = status_table(args.state_dir.resolve(), state)
            console.print(table)
            return 0 if healthy else 3
        twin = Twin(args.state_dir, TwinPorts(**state.ports) if state else TwinPorts.from_env())
        print(env_lines(twin.env))
        return 0
    except USER_ERRORS as error:
        console.print(f"[red]error:[/] {error}", highlight=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())

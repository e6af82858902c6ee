"""What the twin prints: the URL table, the status table and the ``env`` lines."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console
from rich.table import Table

from twin.health import service_health
from twin.layout import DEFAULT_STATE_DIR, REPO_ROOT
from twin.state import TwinState
from twin.supervisor import Twin

LABELS = {
    "mage": "Mage UI",
    "postgres": "PostgreSQL",
    "gcs": "GCS emulator",
    "bigquery": "BigQuery emulator",
    "files": "Taxi files",
}


def _relative(path: Path | str) -> str:
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        try:
            return str(path.relative_to(REPO_ROOT))
        except ValueError:
            return str(path)


def wide_console(stderr: bool = False, width: int = 140) -> Console:
    """A terminal-width console, or a ``width``-column one when output is piped, so tables are
    not squeezed to 80 columns in logs and CI."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=width)


NARROW_COLUMNS = 100  # below this the log path goes under the URL instead of beside it


def url_table(twin: Twin, width: int = 200) -> Table:
    """One row per service: name, URL, log file (under the URL on a narrow console)."""
    table = Table(title="Local GCP twin" + (" (already running)" if twin.reused else ""))
    table.add_column("service", style="bold")
    wide = width >= NARROW_COLUMNS
    if wide:
        table.add_column("URL", style="cyan", no_wrap=True)
        table.add_column("log")
    else:
        table.add_column("URL / log", overflow="fold")
    order = ["mage", "postgres", "gcs", "bigquery", "files"]
    for name in order:
        if name in twin.urls:
            log = _relative(twin.log_path(name))
            if wide:
                table.add_row(LABELS[name], twin.urls[name], log)
            else:
                table.add_row(LABELS[name], f"[cyan]{twin.urls[name]}[/]\n[dim]{log}[/]")
    return table


def print_started(twin: Twin, console: Console, foreground: bool) -> None:
    console.print(url_table(twin, width=console.width))
    console.print(f"Taxi files served from {_relative(twin.data_dir)}")
    state_flag = "" if twin.state_dir == DEFAULT_STATE_DIR else f" --state-dir {twin.state_dir}"
    console.print("Shell environment for `mage run`, psql and the google-cloud clients:")
    console.print(f'  eval "$(.venv/bin/python -m twin{state_flag} env)"', soft_wrap=True)
    if foreground:
        console.print("[bold]Press Ctrl-C to stop everything[/] (or run `make down` elsewhere).")
    elif twin.reused:
        console.print("Stop it with `make down` (or Ctrl-C in the terminal that started it).")


def status_table(state_dir: Path, state: TwinState) -> tuple[Table, bool]:
    """The recorded services with liveness and health; second value: all healthy."""
    table = Table(title=f"Local GCP twin in {_relative(state_dir)} (owner pid {state.owner_pid})")
    for column in ("service", "pid", "URL", "state"):
        table.add_column(column, no_wrap=column == "URL")
    all_ok = True
    for record in state.services:
        alive, healthy = service_health(state_dir, state, record)
        all_ok &= healthy
        label = (
            "[green]ready[/]"
            if healthy
            else ("[yellow]not answering[/]" if alive else "[red]stopped[/]")
        )
        table.add_row(LABELS[record.name], str(record.pid), record.url, label)
    return table, all_ok


def env_lines(env: dict[str, str]) -> str:
    """``export NAME=value`` lines for ``eval``."""
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in env.items())

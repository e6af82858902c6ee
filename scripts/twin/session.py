"""Use the twin from a script: attach to the one `make up` runs, or run a temporary one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from twin.ports import TwinPorts
from twin.state import TwinState
from twin.supervisor import Twin


@contextmanager
def running_twin(state_dir: Path, console: Console) -> Iterator[Twin]:
    """A twin with its services up: the running one from ``state_dir`` (left running), or a new
    one without Mage (stopped on exit, even on error or Ctrl-C)."""
    state_dir = Path(state_dir).resolve()
    state = TwinState.load(state_dir)
    twin = Twin(state_dir, TwinPorts(**state.ports) if state else TwinPorts.from_env())
    with console.status("Starting the local GCP twin (PostgreSQL, GCS, BigQuery, taxi files)…"):
        twin.start(mage=state.mage if state else False)
    if twin.reused:
        console.print(f"Using the twin already running from {state_dir}.")
        if (note := twin.reuse_note()) is not None:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
        yield twin
        return
    console.print(f"Local GCP twin started in {twin.start_seconds:.1f} s (stopped at the end).")
    try:
        yield twin
    finally:
        with console.status("Stopping the local GCP twin…"):
            twin.stop()

"""A second `make up` reuses the running twin, and says so in one sentence when that twin is not
what was asked: other taxi files, another sample size, other ports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from twin.ports import TwinPorts

from tests.twin.test_twin_cli import TWIN, port_flags, start_foreground, twin_cli

pytestmark = pytest.mark.twin


def second_up(state_dir: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, *TWIN, "--state-dir", str(state_dir), "up", "--no-mage", *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "400", **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already running" in done.stdout
    return " ".join(done.stdout.split())


def test_reuse_says_what_differs_from_the_request(tmp_path: Path):
    ports = TwinPorts.free()
    state_dir = tmp_path / "state"
    proc = start_foreground(state_dir, ports, tmp_path / "up.log", "--no-mage")
    try:
        same = second_up(state_dir, *port_flags(ports))
        assert "note:" not in same

        mine = tmp_path / "tlc"
        mine.mkdir()
        note = second_up(state_dir, *port_flags(ports), TAXI_DATA_DIR=str(mine))
        assert (
            f"note: Reusing the local GCP twin already running from {state_dir.resolve()}, but it "
            f"serves the taxi files of {state_dir.resolve() / 'data'}, not {mine.resolve()}: run "
            "`make down`, then start it again to get what you asked for." in note
        )

        rows = second_up(state_dir, *port_flags(ports), TWIN_SAMPLE_ROWS="full")
        assert "its sample months have the default size, not the full size" in rows

        other = TwinPorts.free()
        moved = second_up(state_dir, "--port-files", str(other.files))
        assert f"its files port is {ports.files}, not {other.files}" in moved
        assert "mage port" not in moved  # only what was asked is compared
        assert proc.poll() is None, "a reuse never stops the running twin"
    finally:
        twin_cli(state_dir, "down")
        proc.wait(60)


def test_a_running_twin_that_does_not_answer_is_reported_not_stopped(tmp_path: Path, monkeypatch):
    """A busy machine can make a live twin slow to answer: a reuse waits, then says so; it never
    stops a twin another terminal (or test session) owns to start a second one on its ports."""
    from twin import supervisor
    from twin.errors import TwinError
    from twin.process import process_start_time
    from twin.state import ServiceRecord, TwinState

    monkeypatch.setattr(supervisor, "REUSE_WAIT_SECONDS", 1.0, raising=False)
    ports = TwinPorts.free()
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    silent = subprocess.Popen(["sleep", "60"], start_new_session=True)  # alive, answers nothing
    try:
        records = [
            ServiceRecord(name, silent.pid, silent.pid, process_start_time(silent.pid), "", "")
            for name in ("postgres", "gcs", "bigquery", "files")
        ]
        TwinState(
            owner_pid=os.getpid(),
            owner_start_time=process_start_time(os.getpid()),
            ports=ports.as_dict(),
            mage=False,
            data_dir=str(tmp_path),
            services=records,
        ).save(state_dir)
        with pytest.raises(TwinError) as raised:
            supervisor.Twin(state_dir, ports).start(mage=False)
        message = str(raised.value)
        assert "postgres, gcs, bigquery, files alive but not answering after 1 s" in message
        assert "`make down`" in message and len(message) < 400
        assert silent.poll() is None, "the running twin's processes were stopped"
        assert TwinState.load(state_dir) is not None, "the running twin's state was forgotten"
    finally:
        supervisor.stop_recorded(state_dir)  # whatever a regression may have started
        silent.kill()
        silent.wait()

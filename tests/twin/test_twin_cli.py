"""`make up` / `make down` as a user runs them: `python -m twin` in the foreground, a second
`up` that reuses it, Ctrl-C and `down` that leave no process behind, a port already taken."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from twin.ports import TwinPorts
from twin.state import TwinState

pytestmark = pytest.mark.twin

TWIN = ["-m", "twin"]  # what `make up` / `make down` run


def port_flags(ports: TwinPorts) -> list[str]:
    return [
        arg
        for name, port in ports.as_dict().items()
        for arg in (f"--port-{name.replace('_', '-')}", str(port))
    ]


def twin_cli(state_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *TWIN, "--state-dir", str(state_dir), *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def start_foreground(state_dir: Path, ports: TwinPorts, log: Path, *extra: str) -> subprocess.Popen:
    """`python -m twin up` as `make up` runs it, returned once it says everything is up."""
    handle = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, *TWIN, "--state-dir", str(state_dir), "up", *port_flags(ports), *extra],
        stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while "Press Ctrl-C" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"twin up did not come up:\n{log.read_text()}")
        time.sleep(0.3)
    return proc


def started_processes(state_dir: Path) -> list[psutil.Process]:
    """Every process the twin recorded, and all their descendants, alive now."""
    state = TwinState.load(state_dir)
    assert state is not None and state.services
    found = []
    for record in state.services:
        try:
            leader = psutil.Process(record.pid)
            found += [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


def exit_code(proc: subprocess.Popen, log: Path, seconds: float) -> int:
    """The foreground `up`'s exit code once it ends; its log in the failure when it does not."""
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"`twin up` still runs {seconds:.0f} s later; its output:\n{log.read_text()}"
        ) from None


def assert_all_gone(processes: list[psutil.Process], state_dir: Path) -> None:
    gone, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == [], f"left running: {[(p.pid, p.name()) for p in alive]}"
    assert TwinState.load(state_dir) is None, "the state file was not removed"


def test_up_prints_urls_reuses_and_ctrl_c_stops_everything(tmp_path):
    ports = TwinPorts.free()
    state_dir = tmp_path / "state"
    proc = start_foreground(state_dir, ports, tmp_path / "up.log")
    try:
        out = (tmp_path / "up.log").read_text()
        for url in (f"http://127.0.0.1:{ports.mage}", f"127.0.0.1:{ports.postgres}/taxi",
                    f"http://127.0.0.1:{ports.gcs}", f"http://127.0.0.1:{ports.bigquery}",
                    f"http://127.0.0.1:{ports.files}"):  # fmt: skip
            assert url in out
        with urllib.request.urlopen(
            f"http://127.0.0.1:{ports.mage}/api/pipelines", timeout=30
        ) as r:
            assert r.status == 200
        processes = started_processes(state_dir)
        assert any("mage" in " ".join(p.cmdline()) for p in processes)

        again = twin_cli(state_dir, "up", *port_flags(ports))  # a second `make up`
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already running" in again.stdout
        assert proc.poll() is None, "the second `up` must not stop the first"
        assert twin_cli(state_dir, "status").returncode == 0

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert exit_code(proc, tmp_path / "up.log", 90) == 0
        assert "Local GCP twin stopped." in (tmp_path / "up.log").read_text()
        assert_all_gone(processes, state_dir)
        for port in ports.as_dict().values():
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    finally:
        if proc.poll() is None:
            proc.kill()
        twin_cli(state_dir, "down")


def test_down_from_another_terminal_stops_a_running_twin(tmp_path):
    ports = TwinPorts.free()
    state_dir = tmp_path / "state"
    proc = start_foreground(state_dir, ports, tmp_path / "up.log", "--no-mage")
    try:
        processes = started_processes(state_dir)
        down = twin_cli(state_dir, "down")
        assert down.returncode == 0
        assert "Stopped: postgres, gcs, bigquery, files." in down.stdout
        assert exit_code(proc, tmp_path / "up.log", 60) == 0
        assert_all_gone(processes, state_dir)
        assert "No local GCP twin is running" in twin_cli(state_dir, "down").stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            twin_cli(state_dir, "down")  # the services of the killed `up`


def test_a_port_in_use_is_one_sentence_and_starts_nothing(tmp_path):
    ports = TwinPorts.free()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.gcs))
        taken.listen()
        result = twin_cli(tmp_path / "state", "up", "--no-mage", *port_flags(ports))
    assert result.returncode == 1
    message = " ".join(result.stdout.split())
    assert (
        f"error: Port {ports.gcs} for gcs on 127.0.0.1 is already in use by another program; "
        "stop that program or choose another port with --port-gcs or TWIN_GCS_PORT." in message
    )
    assert TwinState.load(tmp_path / "state") is None
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", ports.postgres)) != 0, "PostgreSQL was started"

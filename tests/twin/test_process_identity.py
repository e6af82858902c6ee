"""The twin tells its own processes from strangers by their start, whatever the wall clock does.

`down`, `status` and a second `up` recognise the twin's processes by pid plus start time. A CI
machine's clock is often stepped by NTP shortly after boot; the identity must not move with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from twin.process import group_is_ours, pid_alive, process_start_time

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the wall-clock dependence is psutil's on Linux"
)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A process leading its own group, as the twin starts each service."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@linux_only
def test_a_wall_clock_step_leaves_a_live_process_recognised(sleeper, monkeypatch):
    recorded = process_start_time(sleeper.pid)
    # What an NTP step does to psutil: /proc/stat's btime is the wall clock minus the uptime.
    from psutil import _pslinux

    stepped = psutil.boot_time() + 3.0
    monkeypatch.setattr(_pslinux, "BOOT_TIME", stepped)
    monkeypatch.setattr(psutil, "boot_time", lambda: stepped)
    assert pid_alive(sleeper.pid, recorded)
    assert group_is_ours(sleeper.pid, recorded)


def test_another_process_with_the_same_pid_is_not_ours(sleeper):
    recorded = process_start_time(sleeper.pid)
    assert recorded is not None
    assert pid_alive(sleeper.pid, recorded)
    assert not pid_alive(sleeper.pid, recorded - 1)  # a pid reused by a later process
    sleeper.kill()
    sleeper.wait()
    assert not pid_alive(sleeper.pid, recorded)
    assert process_start_time(sleeper.pid) is None


@linux_only
def test_a_command_name_with_parentheses_and_spaces_is_read(tmp_path: Path):
    odd = tmp_path / "a) b (c"  # the kernel names the process after the path it executed
    odd.symlink_to(shutil.which("sleep"))
    proc = subprocess.Popen([str(odd), "60"])
    try:
        comm = Path(f"/proc/{proc.pid}/comm")
        deadline = time.monotonic() + 10
        while comm.read_text().strip() != odd.name and time.monotonic() < deadline:
            time.sleep(0.02)  # until the child has exec'd
        assert comm.read_text().strip() == odd.name
        recorded = process_start_time(proc.pid)
        ticks = (psutil.Process(proc.pid).create_time() - psutil.boot_time()) * os.sysconf(
            "SC_CLK_TCK"
        )
        assert recorded is not None and abs(recorded - ticks) < 2, (recorded, ticks)
        assert pid_alive(proc.pid, recorded)
    finally:
        proc.kill()
        proc.wait()

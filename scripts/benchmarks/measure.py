"""Run one command as a subprocess and measure its wall time and the peak RSS of its process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

POLL_SECONDS = 0.05


class StepFailed(RuntimeError):
    """A measured command exited non-zero or timed out."""


@dataclass
class Measurement:
    """What one measured process tree did."""

    wall_s: float
    peak_rss_mb: float  # largest sum of RSS over the tree, sampled every POLL_SECONDS
    write_mb: float  # bytes the tree passed to write()/send() (files and sockets), in MB
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def measure(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800,
    label: str = "",
) -> Measurement:
    """Run ``command``; raise StepFailed (with its stderr tail) unless it exits 0."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True
        )
        root = psutil.Process(proc.pid)
        peak = 0
        writes: dict[int, int] = {}
        while proc.poll() is None:
            total = 0
            for p in _tree(root):
                try:
                    total += p.memory_info().rss
                    writes[p.pid] = p.io_counters().write_chars
                except psutil.Error:
                    continue
            peak = max(peak, total)
            if time.perf_counter() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise StepFailed(f"{label or command[0]} did not finish within {timeout:.0f} s.")
            time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - start
        _reap_group(proc.pid)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    result = Measurement(
        wall_s=wall,
        peak_rss_mb=peak / 2**20,
        write_mb=sum(writes.values()) / 2**20,
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
    )
    if proc.returncode != 0:
        tail = "\n".join((stderr or stdout).strip().splitlines()[-15:])
        raise StepFailed(f"{label or command[0]} exited with {proc.returncode}:\n{tail}")
    return result


def _reap_group(pgid: int) -> None:
    """Stop anything the command left running in its process group."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)

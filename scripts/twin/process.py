"""Start services in their own process groups and stop those groups reliably."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psutil

STOP_REQUESTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while a child is started and recorded (or the twin stops),
    then deliver them to the previous handlers: a stop request never lands between a child's
    start and its record, so whatever was started is always stopped. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.getsignal(s) for s in STOP_REQUESTS}
    for signum in STOP_REQUESTS:
        signal.signal(signum, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), pending[0])


def spawn(
    command: Sequence[str],
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen:
    """Start ``command`` as the leader of a new session (so of a new process group).

    stdout and stderr go to ``log_path`` (appended). ``user`` drops privileges (used when root).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    extra: dict = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        extra = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {' '.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            **extra,
        )


def process_start_time(pid: int) -> float | None:
    """When the process started, as an identity (to tell it from a later process reusing its pid).

    On Linux this is the kernel's own count, clock ticks since boot (``/proc/<pid>/stat`` field
    22, see proc(5)), which no wall-clock change touches. psutil's ``create_time`` adds the boot
    time that ``/proc/stat`` derives from the wall clock, so an NTP step between recording a
    process and checking it (common on a freshly booted CI machine) made a live twin look dead:
    ``down`` stopped nothing and a new ``up`` found its ports taken. Elsewhere psutil's
    ``create_time``, which the kernel stores at the process's start.
    """
    if sys.platform.startswith("linux"):
        try:
            # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return float(fields[19])  # field 22 of the line; fields[0] is field 3
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def group_alive(pgid: int) -> bool:
    """True while any process (not a zombie) is in process group ``pgid``."""
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def stop_group(
    pgid: int,
    first_signal: int = signal.SIGTERM,
    timeout: float = 15.0,
    leader: subprocess.Popen | None = None,
) -> None:
    """Signal the whole group, wait for it to end, SIGKILL whatever is left after ``timeout``.

    Descendants that left the group (``mage start`` runs its Jupyter kernel in a session of its
    own) are waited for too, and terminated if they outlive the group.
    """
    escaped = escaped_descendants(pgid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, first_signal)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if leader is not None:
            leader.poll()
        if not group_alive(pgid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 5
        while group_alive(pgid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    if leader is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            leader.wait(timeout=5)
    _, alive = psutil.wait_procs(escaped, timeout=5)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        _, alive = psutil.wait_procs(alive, timeout=5)


def escaped_descendants(pgid: int) -> list[psutil.Process]:
    """Descendants of the group's leader that are in another process group (killpg misses them)."""
    try:
        children = psutil.Process(pgid).children(recursive=True)
    except psutil.Error:
        return []
    escaped = []
    for child in children:
        with contextlib.suppress(ProcessLookupError, psutil.Error):
            if os.getpgid(child.pid) != pgid:
                escaped.append(child)
    return escaped


def pid_alive(pid: int, start_time: float | None) -> bool:
    """True when ``pid`` runs and is the same process that was recorded (same start time)."""
    current = process_start_time(pid)
    if current is None:
        return False
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.Error:
        return False
    return start_time is None or current == start_time


def group_is_ours(pid: int, start_time: float | None) -> bool:
    """True when the process group led by ``pid`` is still the one we started.

    Either the leader runs with the recorded start time, or the leader is gone but members of its
    group remain (the kernel never reuses a pid while it names a live process group).
    """
    if pid_alive(pid, start_time):
        return True
    return process_start_time(pid) is None and group_alive(pid)

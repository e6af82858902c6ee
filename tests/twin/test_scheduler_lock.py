"""Two always-on UI instances at once (a Cloud Run rollout may briefly exceed
``max_instance_count``; issue 16) run one Mage scheduler between them: ``python -m mage_runner
start ... --instance-type server_and_scheduler`` serves the UI at once and runs Mage's scheduler
only while it holds the advisory lock on the metadata database (mage_runner.scheduler_lock).

A Mage scheduler, in any layout, is the process Mage's ``SchedulerManager`` forks from a
``mage start`` process (multiprocessing: same command line as its parent) to run the scheduler
loop, not the multiprocessing manager every ``mage start`` forks for its job queue; the pipeline
runs the scheduler forks in turn are not counted (none run here: ``ENV=prod``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest
from mage_runner.cli import exec_argv
from mage_runner.metadata_db import URL_ENV
from mage_runner.scheduler_lock import LOCK_KEYS
from twin.process import escaped_descendants, stop_group

from infra.policy.policy_rules import CONNECTIONS_PER_UI
from mage_project.utils.image_contract import REPO_ROOT as REPO
from mage_project.utils.image_contract import runner_argv

pytestmark = pytest.mark.twin
SERVE_TIMEOUT = 240.0  # two Mage servers and a scheduler starting at once on a busy 2-core box
TAKEOVER_TIMEOUT = 90.0
STOP_TIMEOUT = 25.0  # the holder's SIGTERM-then-SIGKILL grace (10 s) and a margin
POLL = 2  # the holder's lock poll (MAGE_SCHEDULER_LOCK_POLL_SECONDS)


def terminate_lock_backend(url: str) -> int:
    """End the database session that holds the scheduler lock; how many were ended."""
    import psycopg2

    libpq = urlunsplit(urlsplit(url)._replace(scheme="postgresql"))
    with contextlib.closing(psycopg2.connect(libpq)) as conn, conn.cursor() as cursor:
        conn.autocommit = True
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = %s AND objid = %s AND objsubid = 2 AND granted",
            LOCK_KEYS,
        )
        return len(cursor.fetchall())


def db_connections(root: int, port: int) -> int:
    """TCP connections from ``root``'s process tree to the Postgres on ``port``."""
    try:
        tree = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    count = 0
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            count += sum(1 for c in proc.connections("tcp") if c.raddr and c.raddr.port == port)
    return count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def is_mage_start(cmdline: list[str]) -> bool:
    return any(Path(part).name == "mage" for part in cmdline[:2]) and "start" in cmdline


def is_manager(proc: psutil.Process) -> bool:
    """Every ``mage start`` also forks a multiprocessing manager (its job queue's): the process
    that listens on a ``pymp-*/listener-*`` socket."""
    return any("listener-" in str(c.laddr) for c in proc.connections("unix"))


def schedulers(root: int) -> list[psutil.Process]:
    """Mage scheduler processes under ``root``: forks of a ``mage start`` that is not a fork."""
    try:
        tree = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    found = []
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            parent = proc.parent()
            cmd, parent_cmd = proc.cmdline(), parent.cmdline()
            grand_cmd = parent.parent().cmdline() if parent.parent() else []
            forked = is_mage_start(cmd) and cmd == parent_cmd and grand_cmd != parent_cmd
            if forked and not is_manager(proc):
                found.append(proc)
    return found


def serves(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


class UiInstance:
    """``python -m mage_runner start`` in a process group of its own, on its own port."""

    def __init__(self, name: str, env: dict[str, str], tmp: Path):
        self.port = free_port()
        self.log = tmp / f"{name}.log"
        argv = [
            *runner_argv("start", sys.executable), "--host", "127.0.0.1",
            "--port", str(self.port), "--instance-type", "server_and_scheduler",
        ]  # fmt: skip
        self.argv = argv
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, cwd=REPO, env=env | {"MAGE_DATA_DIR": str(tmp / f"{name}_data")},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.escaped: list[psutil.Process] = []

    def schedulers(self) -> list[psutil.Process]:
        self.escaped += [p for p in escaped_descendants(self.proc.pid) if p not in self.escaped]
        return schedulers(self.proc.pid)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_group(self) -> None:
        self.escaped += escaped_descendants(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.escaped += escaped_descendants(self.proc.pid)
        stop_group(self.proc.pid, leader=self.proc)
        for proc in self.escaped:  # Mage's kernel runs in a session of its own
            with contextlib.suppress(psutil.Error):
                proc.kill()


@pytest.fixture
def ui_env(twin) -> dict[str, str]:
    env = twin.subprocess_env() | {
        "ENV": "prod",  # as the service: no twin triggers, so no pipeline runs to count
        "PYTHONWARNINGS": "ignore",
        "MAGE_SCHEDULER_LOCK_POLL_SECONDS": str(POLL),
    }
    env.pop("MAGE_SECRETS_KEY", None)
    env.pop("INSTANCE_TYPE", None)
    return env


def wait_until(what: str, check, timeout: float, instances: list[UiInstance]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for ui in instances:
            assert ui.proc.poll() is None or ui.proc.returncode == -9, (
                f"{ui.argv} exited with {ui.proc.returncode}:\n{ui.text()[-3000:]}"
            )
        time.sleep(0.5)
    logs = "\n\n".join(ui.text()[-2500:] for ui in instances)
    pytest.fail(f"{what} not within {timeout:.0f} s\n{logs}")


def test_the_always_on_ui_execs_the_web_server_and_leaves_the_scheduler_to_the_lock():
    planned = runner_argv("start")  # the Dockerfile's CMD and the planned service's command
    locked = ["mage", "start", "mage_project", "--instance-type", "web_server"]
    assert exec_argv([*planned, "--instance-type", "server_and_scheduler"]) == locked
    assert exec_argv(planned) == locked  # Mage's default instance type runs the scheduler too
    assert exec_argv([*planned, "--instance-type", "web_server"]) == locked
    no_postgres = exec_argv([*planned, "--instance-type", "server_and_scheduler"], {})
    assert no_postgres == [
        "mage",
        "start",
        "mage_project",
        "--instance-type",
        "server_and_scheduler",
    ]


def test_two_ui_instances_at_once_run_one_scheduler_and_the_second_takes_over(ui_env, tmp_path):
    # as in a rollout, the new instance starts while the old one serves (two Mage servers
    # starting together on a fresh database race on creating its owner user: Mage's, not ours)
    first = UiInstance("first", ui_env, tmp_path)
    both = [first]
    try:
        wait_until("the first UI serving", lambda: serves(first.port), SERVE_TIMEOUT, both)
        second = UiInstance("second", ui_env, tmp_path)
        both.append(second)
        wait_until("both UIs serving", lambda: serves(first.port) and serves(second.port),
                   SERVE_TIMEOUT, both)  # fmt: skip
        running = wait_until("a Mage scheduler", lambda: first.schedulers() + second.schedulers(),
                             SERVE_TIMEOUT, both)  # fmt: skip
        # both UIs up and one scheduler: watch that no second one starts, twice the lock's poll
        # and the scheduler's own start (a loser that ignored the lock would show by then)
        watch_until = time.monotonic() + 20
        peak = 0
        while time.monotonic() < watch_until:
            counts = (len(first.schedulers()), len(second.schedulers()))
            peak = max(peak, sum(counts))
            assert sum(counts) <= 1, f"two Mage schedulers at once (first, second): {counts}"
            time.sleep(0.5)
        assert serves(first.port) and serves(second.port)
        holder, waiter = (first, second) if first.schedulers() else (second, first)
        assert len(holder.schedulers()) == 1 and not waiter.schedulers(), running
        tree = [psutil.Process(holder.proc.pid), *psutil.Process(holder.proc.pid).children(True)]
        pss = {p.pid: p.memory_full_info().pss for p in tree}
        locked = sum(pss[p.pid] for p in tree if "scheduler" in " ".join(p.cmdline()))
        print(f"\nPSS of the holding instance: {sum(pss.values()) / 2**20:.0f} MiB, of which "
              f"the lock holder and Mage's scheduler: {locked / 2**20:.0f} MiB")  # fmt: skip
        assert "another instance holds the lock" in waiter.text()
        pg_port = urlsplit(ui_env[URL_ENV]).port
        with ThreadPoolExecutor(12) as pool:  # as the budget's measure: 12 parallel API calls
            calls = [pool.submit(serves, holder.port) for _ in range(24)]
            peak = max(db_connections(holder.proc.pid, pg_port) for _ in range(20))
            assert all(call.result() for call in calls)
        print(f"metadata DB connections: holding instance {peak} at most under 12 parallel "
              f"calls, waiting instance {db_connections(waiter.proc.pid, pg_port)} idle "
              f"(budget per UI instance: {CONNECTIONS_PER_UI})")  # fmt: skip
        assert peak <= CONNECTIONS_PER_UI, "the lock's layout holds more than the UI's budget"

        its_scheduler = holder.schedulers()
        killed = time.monotonic()
        holder.kill_group()
        wait_until("the second instance's scheduler", waiter.schedulers, TAKEOVER_TIMEOUT, [waiter])
        took = time.monotonic() - killed
        print(f"takeover after the holder's process group was killed: {took:.1f} s")
        assert not any(map(alive, its_scheduler))
        assert len(waiter.schedulers()) == 1 and serves(waiter.port)
        assert "took the lock; started Mage's scheduler" in waiter.text()

        # the lock's connection is lost (a Cloud SQL restart, a failover): the scheduler stops
        # with it, and starts again once the lock is taken again
        before = waiter.schedulers()
        assert terminate_lock_backend(ui_env[URL_ENV]) == 1
        wait_until("the scheduler stopped with the lock's connection",
                   lambda: not any(map(alive, before)), TAKEOVER_TIMEOUT, [waiter])  # fmt: skip
        assert "lost the database connection that holds the lock" in waiter.text()
        again = wait_until("the scheduler again", waiter.schedulers, TAKEOVER_TIMEOUT, [waiter])
        assert len(again) == 1 and again[0].pid != before[0].pid

        # a rollout's end: Cloud Run sends SIGTERM to the old instance's main process (Mage's
        # web server); its scheduler stops with it and the new instance's takes over
        third = UiInstance("third", ui_env, tmp_path)
        both.append(third)
        wait_until("the third UI serving", lambda: serves(third.port), SERVE_TIMEOUT, both[1:])
        wait_until("the third instance waiting", lambda: "another instance holds" in third.text(),
                   TAKEOVER_TIMEOUT, both[1:])  # fmt: skip
        assert not third.schedulers()
        old_tree = psutil.Process(waiter.proc.pid).children(recursive=True)
        ours = [p for p in old_tree if "scheduler" in " ".join(p.cmdline())]
        assert ours, "the old instance runs no lock holder or scheduler"
        stopped = time.monotonic()
        waiter.proc.send_signal(signal.SIGTERM)
        wait_until("the third instance's scheduler", third.schedulers, TAKEOVER_TIMEOUT, [third])
        print(f"takeover after SIGTERM to the old instance's web server: "
              f"{time.monotonic() - stopped:.1f} s")  # fmt: skip
        # (Mage's own forks of the web server, its job queue's manager and kernel, are Mage's)
        wait_until("the stopped instance's scheduler processes gone",
                   lambda: not any(map(alive, ours)), STOP_TIMEOUT, [])  # fmt: skip
        assert "received SIGTERM; stopping this instance's scheduler" in waiter.text()
    finally:
        for ui in both:
            ui.stop()


def test_the_lock_follows_mages_own_instance_type_rules():
    from mage_runner import scheduler_lock as lock

    pg = {URL_ENV: "postgresql+psycopg2://u:p@127.0.0.1:5432/mage"}
    assert lock.locks([], pg)  # Mage's default instance type has the scheduler
    assert not lock.locks(["--instance-type", "web_server"], pg)
    assert not lock.locks(["--instance-type", "server_and_scheduler"], {})  # no Postgres, no lock
    # INSTANCE_TYPE wins over the option, as in mage_ai/cli/main.py
    assert lock.locks(
        ["--instance-type=web_server"], pg | {"INSTANCE_TYPE": "server_and_scheduler"}
    )
    assert not lock.locks(
        ["--instance-type", "server_and_scheduler"], pg | {"INSTANCE_TYPE": "web_server"}
    )
    args = ["--host", "0.0.0.0", "--port=8080", "--instance-type", "server_and_scheduler"]
    assert lock.web_address(args) == ("127.0.0.1", 8080)
    assert lock.scheduler_args(args) == [
        "--instance-type", "scheduler", "--host", "127.0.0.1", "--port", "0"
    ]  # fmt: skip
    assert lock.web_server_args(args) == [
        "--host",
        "0.0.0.0",
        "--port=8080",
        "--instance-type",
        "web_server",
    ]

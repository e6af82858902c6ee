"""One Mage scheduler across instances: a PostgreSQL advisory lock on Mage's metadata database.

Mage 0.9.80's ``server_and_scheduler`` instance forks its scheduler beside its web server and
locks nothing but single pipeline runs, and only through Redis (``orchestration/utils/
distributed_lock.py``: no Redis, no lock). Cloud Run may run two instances of the always-on UI
for a while during a rollout, even with ``max_instance_count = 1``
(https://cloud.google.com/run/docs/configuring/max-instances), so two schedulers would start the
same triggers twice. So ``start`` splits that instance type in two (:func:`plan`):

* the main process execs ``mage start ... --instance-type web_server`` (Cloud Run's signals
  reach Mage, as before);
* a holder started just before the exec (``python -m mage_runner scheduler ...``,
  :func:`hold`) waits for that web server to answer (its migrations are done then), takes a
  session-level ``pg_try_advisory_lock`` on the metadata database and only while it holds it
  runs ``mage start ... --instance-type scheduler`` (status server on a free loopback port).
  It stops that scheduler when the lock's connection is lost, when the web server stops (its
  parent; Linux's parent-death signal) or on SIGTERM, and restarts it if it exits while the
  lock is held. Another instance's holder polls the lock and takes over when this one's session
  ends (the lock is the database session's, so it ends with the process or its connection).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, MutableMapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from mage_runner import metadata_db

INSTANCE_TYPE_ENV = "INSTANCE_TYPE"  # Mage reads it before --instance-type (mage_ai/cli/main.py)
SERVER_AND_SCHEDULER = "server_and_scheduler"  # Mage's default instance type
WEB_SERVER = "web_server"
SCHEDULER = "scheduler"
MAGE_DEFAULT_PORT = 6789  # mage start --port's default
STATUS_PATH = "/api/status"  # Mage's status route, the service's probe path
POLL_ENV = "MAGE_SCHEDULER_LOCK_POLL_SECONDS"
DEFAULT_POLL = 5.0
#: The lock's two keys (pg_try_advisory_lock(int4, int4)): 'MAGE', 'SCHD' in ASCII.
LOCK_KEYS = (0x4D414745, 0x53434844)
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL when stopping the scheduler's tree
#: libpq and server-side TCP keepalives of the lock's connection: a dead peer ends the session
#: (and frees the lock) in ~25 s instead of the kernel's 2 hours; a stalled send fails in 30 s.
KEEPALIVES = {
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 "
               "-c tcp_keepalives_count=3 -c idle_session_timeout=0",
}  # fmt: skip
ADVISORY_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = 2)"
)


def _say(line: str) -> None:
    print(f"mage_runner scheduler lock: {line}", flush=True)


def instance_type(mage_args: Sequence[str], environ: Mapping[str, str]) -> str:
    """The instance type Mage would run: ``INSTANCE_TYPE``, else ``--instance-type``, else its
    default ``server_and_scheduler``."""
    return (
        environ.get(INSTANCE_TYPE_ENV)
        or _option(mage_args, "--instance-type")
        or (SERVER_AND_SCHEDULER)
    )


def _option(args: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _without(args: Sequence[str], *names: str) -> list[str]:
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not any(arg.startswith(name + "=") for name in names):
            kept.append(arg)
    return kept


def locks(mage_args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """True when ``start`` runs Mage's scheduler under the lock: the instance type includes the
    scheduler and the metadata database is PostgreSQL (the lock lives there)."""
    url = environ.get(metadata_db.URL_ENV, "").strip()
    kind = instance_type(mage_args, environ)
    return kind == SERVER_AND_SCHEDULER and bool(url) and metadata_db.is_postgres(url)


def web_server_args(mage_args: Sequence[str]) -> list[str]:
    """``mage start`` options of the main process when the scheduler runs under the lock."""
    return [*_without(mage_args, "--instance-type"), "--instance-type", WEB_SERVER]


def scheduler_args(mage_args: Sequence[str]) -> list[str]:
    """``mage start`` options of the locked scheduler: its status server on a free loopback port
    (``--port 0``; Mage's port scan takes it as is), never the web server's."""
    rest = _without(mage_args, "--instance-type", "--host", "--port")
    return [*rest, "--instance-type", SCHEDULER, "--host", "127.0.0.1", "--port", "0"]


def web_address(mage_args: Sequence[str]) -> tuple[str, int]:
    """Where this instance's web server listens (Mage binds every interface for localhost)."""
    host = _option(mage_args, "--host") or "localhost"
    port = int(_option(mage_args, "--port") or MAGE_DEFAULT_PORT)
    return ("127.0.0.1" if host in ("localhost", "0.0.0.0", "::", "") else host), port


def poll_seconds(environ: MutableMapping[str, str]) -> float:
    raw = environ.get(POLL_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_POLL
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise SystemExit(
            f"{POLL_ENV}={raw[:40]!r} is not a positive number of seconds; set e.g. 5."
        )
    return value


class _Stop(Exception):
    """SIGTERM or the web server (our parent) is gone: stop the scheduler and release the lock."""


def _on_signal(signum: int, _frame: object) -> None:
    raise _Stop(f"received {signal.Signals(signum).name}")


def _die_with_parent(signum: int) -> None:
    """Linux: deliver ``signum`` to this process when its parent dies (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signum, 0, 0, 0)


def _scheduler_preexec() -> None:
    _die_with_parent(signal.SIGKILL)  # the holder died without stopping it: it must not run on
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})  # see start


class Holder:
    """The holder's state: the lock's connection and the scheduler's process."""

    def __init__(self, project: str, mage_args: Sequence[str], environ: dict[str, str]):
        self.project, self.mage_args, self.environ = project, list(mage_args), environ
        self.parent = os.getppid()
        self.poll = poll_seconds(environ)
        self.conn = None
        self.scheduler: subprocess.Popen | None = None
        self._said: str | None = None

    def say_once(self, line: str) -> None:
        if line != self._said:
            _say(line)
            self._said = line

    def check_parent(self) -> None:
        if os.getppid() != self.parent:
            raise _Stop("the web server stopped")

    def sleep(self) -> None:
        self.check_parent()
        time.sleep(self.poll)
        self.check_parent()

    def wait_for_web_server(self) -> None:
        """Until this instance's web server answers ``/api/status`` (the service's probe path):
        Mage answers only once its start-up is done (migrations, the owner user), which the
        scheduler's own start would otherwise race on a fresh database."""
        host, port = web_address(self.mage_args)
        url = f"http://{host}:{port}{STATUS_PATH}"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            self.say_once(
                f"waiting for this instance's web server ({url}) to finish starting before competing for the lock."
            )
            self.sleep()

    def connect(self) -> bool:
        url = self.environ[metadata_db.URL_ENV]
        seconds = metadata_db.connect_timeout(self.environ)
        import psycopg2

        libpq = urlunsplit(urlsplit(url)._replace(scheme="postgresql"))
        try:
            self.conn = psycopg2.connect(libpq, connect_timeout=seconds, **KEEPALIVES)
            self.conn.autocommit = True
        except psycopg2.Error as error:
            reason = " ".join(str(error).split())[:160]
            self.say_once(
                f"cannot reach Mage's metadata database at {metadata_db.describe(url)} to take the lock ({reason}); this instance runs no scheduler and retries every {self.poll:g} s."
            )
            self.conn = None
            return False
        return True

    def query(self, sql: str) -> bool:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, LOCK_KEYS)
            return bool(cursor.fetchone()[0])

    def try_lock(self) -> bool:
        import psycopg2

        if self.conn is None and not self.connect():
            return False
        try:
            return self.query("SELECT pg_try_advisory_lock(%s, %s)")
        except psycopg2.Error as error:
            self.drop(f"the lock query failed ({' '.join(str(error).split())[:160]})")
            return False

    def still_held(self) -> bool:
        """True while this session holds the lock; otherwise the scheduler is stopped first."""
        import psycopg2

        try:
            held = self.query(ADVISORY_HELD)
        except psycopg2.Error as error:
            self.lost(" ".join(str(error).split())[:160])
            return False
        if not held:
            self.lost("its session no longer holds the lock")
        return held

    def lost(self, reason: str) -> None:
        _say(
            f"lost the database connection that holds the lock ({reason}); stopping this instance's scheduler, as another instance may take the lock now."
        )
        self.stop_scheduler()
        self.drop(None)

    def drop(self, reason: str | None) -> None:
        if reason:
            self.say_once(
                f"{reason}; this instance runs no scheduler and retries every {self.poll:g} s."
            )
        if self.conn is not None:
            with contextlib.suppress(Exception):  # a dead connection may fail to close
                self.conn.close()
        self.conn = None

    def start_scheduler(self) -> None:
        argv = [_mage(), "start", self.project, *scheduler_args(self.mage_args)]
        env = {**self.environ, INSTANCE_TYPE_ENV: SCHEDULER}
        # SIGTERM waits until the process is recorded, so that stopping never misses it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            self.scheduler = subprocess.Popen(argv, env=env, preexec_fn=_scheduler_preexec)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        _say(f"took the lock; started Mage's scheduler (pid {self.scheduler.pid}).")

    def stop_scheduler(self) -> None:
        """SIGTERM the scheduler and everything it started (Mage forks its scheduler loop and
        the runs), SIGKILL what is left after :data:`STOP_GRACE` seconds."""
        proc, self.scheduler = self.scheduler, None
        if proc is None or proc.poll() is not None:
            return
        import psutil

        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.terminate()
        _gone, alive = psutil.wait_procs(tree, timeout=STOP_GRACE)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=STOP_GRACE)
        proc.poll()

    def run(self) -> None:
        self.wait_for_web_server()
        while True:
            if not self.try_lock():
                if self.conn is not None:
                    self.say_once(
                        f"another instance holds the lock and runs Mage's scheduler; this instance's scheduler waits for it (checked every {self.poll:g} s)."
                    )
                self.sleep()
                continue
            self._said = None
            self.start_scheduler()
            while self.conn is not None:
                self.sleep()
                if not self.still_held():
                    break
                code = self.scheduler.poll()
                if code is not None:
                    _say(
                        f"Mage's scheduler exited with code {code}; restarting it (the lock is still held)."
                    )
                    self.start_scheduler()

    def close(self) -> None:
        self.stop_scheduler()
        self.drop(None)


def _mage() -> str:
    import shutil
    from pathlib import Path

    return shutil.which("mage") or str(Path(sys.executable).parent / "mage")


def spawn(project: str, mage_args: Sequence[str], environ: Mapping[str, str]) -> int:
    """Start the holder (``python -m mage_runner scheduler``) as a child of this process, which
    then execs the web server; returns its pid."""
    env = {k: v for k, v in environ.items() if k != INSTANCE_TYPE_ENV}
    argv = [sys.executable, "-m", __package__, "scheduler", project, *mage_args]
    return subprocess.Popen(argv, env=env).pid


def hold(project: str, mage_args: Sequence[str]) -> int:
    """The holder's main: run Mage's scheduler only while holding the lock; 0 once stopped."""
    holder = Holder(project, mage_args, dict(os.environ))
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    _die_with_parent(signal.SIGTERM)
    try:
        holder.check_parent()
        holder.run()
    except _Stop as why:
        _say(f"{why}; stopping this instance's scheduler and releasing the lock.")
    except Exception as error:  # noqa: BLE001 -- said in one sentence, then the scheduler stops
        _say(
            f"the lock's holder failed ({type(error).__name__}: {error}); this instance runs no scheduler until it restarts (another instance's may take the lock)."
        )
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        holder.close()
    return 0

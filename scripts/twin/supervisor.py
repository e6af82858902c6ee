"""The local GCP twin's supervisor: starts PostgreSQL, the GCS and BigQuery emulators, the
taxi-file server and Mage as process groups, waits until each answers, and stops them all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path

from mage_runner import metadata_db
from mage_runner.site import MAGE_SITE

from mage_project.utils import env_contract
from twin import identity, postgres
from twin.bigquery_api import create_dataset
from twin.errors import TwinError
from twin.executables import emulator_python, mage_executable
from twin.health import http_ok, service_health
from twin.layout import (
    BUCKET,
    DATASET,
    DEFAULT_STATE_DIR,
    MAGE_PROJECT,
    PROJECT_ID,
    QUIET_WARNINGS,
    REPO_ROOT,
)
from twin.ports import HOST, PORT_ENV_VARS, TwinPorts, ensure_ports_free
from twin.process import (
    group_is_ours,
    pid_alive,
    process_start_time,
    signals_deferred,
    spawn,
    stop_group,
)
from twin.samples import generate_sample_data, sample_rows
from twin.state import ServiceRecord, TwinState

#: Start order; stop runs in reverse.
SERVICES = ("postgres", "gcs", "bigquery", "files", "mage")
#: Seconds each service may take to become ready.
READY_TIMEOUTS = {"postgres": 60, "gcs": 30, "bigquery": 90, "files": 15, "mage": 240}
#: The signal that asks each service for a quick, clean shutdown.
STOP_SIGNALS = {"postgres": signal.SIGINT}
#: Seconds a running twin whose services are alive may take to answer before a reuse gives up.
REUSE_WAIT_SECONDS = 30.0


class Twin:
    """Start, inspect and stop the local twin whose state lives in ``state_dir``.

    ``Twin(state_dir, ports).start(mage=True)`` starts every service (or reuses a healthy twin
    already running from the same state dir), ``.env`` holds the variables blocks read,
    ``.urls`` the addresses, and ``.stop()`` stops every process group started.
    """

    def __init__(
        self,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        ports: TwinPorts | None = None,
        data_dir: Path | str | None = None,
        asked_ports: Collection[str] = (),
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        # ports asked for explicitly (flags); those named by environment variables are added
        self.asked_ports = set(asked_ports) | {
            name for name, names in PORT_ENV_VARS.items() if any(os.environ.get(n) for n in names)
        }
        self.ports = ports if ports is not None else TwinPorts.from_env()
        configured = data_dir or os.environ.get("TAXI_DATA_DIR") or None
        self.data_dir_configured = configured is not None
        self.data_dir = Path(configured).resolve() if configured else self.state_dir / "data"
        self.mage = False
        self.reused = False
        self.reuse_differences: list[str] = []
        self.start_seconds: float | None = None
        self._procs: dict[str, subprocess.Popen] = {}
        self._records: dict[str, ServiceRecord] = {}
        self._superuser_password: str | None = None

    # -- addresses ---------------------------------------------------------------------------

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def log_path(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"

    @property
    def gcs_root(self) -> Path:
        """Where the GCS emulator keeps objects: ``<gcs_root>/<bucket>/<object name>``."""
        return self.state_dir / "gcs" / ".cloudstorage"

    def _url(self, service: str) -> str:
        return f"http://{HOST}:{getattr(self.ports, service)}"

    @property
    def urls(self) -> dict[str, str]:
        """Address of every service (Mage only when it was started)."""
        pg = self.ports.postgres
        urls = {
            "postgres": f"postgresql://{postgres.APP_USER}:{postgres.APP_PASSWORD}@{HOST}:{pg}/taxi",
            "gcs": self._url("gcs"),
            "bigquery": self._url("bigquery"),
            "files": self._url("files"),
        }
        if self.mage:
            urls["mage"] = self._url("mage")
        return urls

    @property
    def env(self) -> dict[str, str]:
        """The environment variables through which blocks find every endpoint (docs/CONTRACTS.md)."""
        pg = self.ports.postgres
        user, password = postgres.APP_USER, postgres.APP_PASSWORD
        return env_contract.resolve(
            "twin",
            {
                "POSTGRES_PORT": str(pg),
                "POSTGRES_USER": user,
                "POSTGRES_PASSWORD": password,
                # bounded like the runner bounds the cloud's (a direct `mage run` or the twin's
                # `mage start` never waits on a frozen Postgres without end)
                "MAGE_DATABASE_CONNECTION_URL": metadata_db.bounded_url(
                    f"postgresql+psycopg2://{user}:{password}@{HOST}:{pg}/mage",
                    metadata_db.DEFAULT_TIMEOUT,
                ),
                "STORAGE_EMULATOR_HOST": self._url("gcs"),
                "BIGQUERY_EMULATOR_HOST": self._url("bigquery"),
                "TAXI_DATA_BASE_URL": self._url("files"),
                "MAGE_DATA_DIR": str(self.state_dir / "mage_data"),
                "GOOGLE_APPLICATION_CREDENTIALS": str(identity.adc_path(self.state_dir)),
                "PGPORT": str(pg),
                "PGUSER": user,
                "PGPASSWORD": password,
            },
        )

    def subprocess_env(self) -> dict[str, str]:
        """``os.environ`` plus :attr:`env`: what ``mage run`` and friends should get."""
        return {**os.environ, **self.env}

    # -- start -------------------------------------------------------------------------------

    def start(self, mage: bool = True) -> Twin:
        """Start every service and wait until each is ready (or reuse a healthy running twin)."""
        began = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        identity.write_adc(self.state_dir)
        existing = TwinState.load(self.state_dir)
        if existing is not None:
            if existing.mage == mage and self._reusable(existing):
                self.reuse_differences = existing.differences(
                    self.data_dir,
                    None if self.data_dir_configured else sample_rows(),
                    self.ports.as_dict(),
                    self.asked_ports,
                )
                self._adopt(existing)
                return self
            stop_recorded(self.state_dir)
        self.mage = mage
        services = [s for s in SERVICES if mage or s != "mage"]
        port_names = [*services, "bigquery_grpc"]
        ensure_ports_free(self.ports, port_names)
        self._prepare_data_dir()
        try:
            for service in services:
                getattr(self, f"_start_{service}")()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _start_postgres(self) -> None:
        cluster = postgres.Cluster(self.state_dir / "postgres")
        log = self.log_path("postgres")
        if not cluster.initialized():
            cluster.initdb(log)
        self._superuser_password = cluster.superuser_password()
        proc = self._spawn(
            "postgres", cluster.server_command(self.ports.postgres), user=postgres.run_as_user()
        )
        password = self._superuser_password
        self._wait("postgres", proc, lambda: postgres.ready(self.ports.postgres, password))
        postgres.bootstrap(self.ports.postgres, password)

    def _start_gcs(self) -> None:
        command = [
            str(emulator_python()),
            "-m",
            "twin.gcs_launcher",
            "--data-dir",
            str(self.gcs_root.parent),
            "start",
            "--host",
            HOST,
            "--port",
            str(self.ports.gcs),
            "--default-bucket",
            BUCKET,
        ]
        proc = self._spawn("gcs", command)
        self._wait("gcs", proc, lambda: http_ok(f"{self._url('gcs')}/storage/v1/b/{BUCKET}"))

    def _start_bigquery(self) -> None:
        self.gcs_root.mkdir(parents=True, exist_ok=True)
        command = [
            str(emulator_python()),
            "-m",
            "twin.bq_launcher",
            "start",
            "--rest-host",
            HOST,
            "--rest-port",
            str(self.ports.bigquery),
            "--grpc-host",
            HOST,
            "--grpc-port",
            str(self.ports.bigquery_grpc),
            "--data-dir",
            str(self.state_dir / "bigquery"),
            "--project",
            PROJECT_ID,
        ]
        env = {
            "BQEMU_GCS_LOCAL_ROOT": str(self.gcs_root),
            # load jobs read gs:// URIs through the GCS emulator's API (twin/bq_gcs.py)
            "STORAGE_EMULATOR_HOST": self._url("gcs"),
            "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false",  # offline: no avro download attempt
            "BQEMU_LOG_FORMAT": "json",
            # Upload bodies in the twin's own dir, not a /tmp dir shared by every user.
            "BQEMU_UPLOAD_STAGING_DIR": str(self.state_dir / "bigquery" / "uploads"),
        }
        proc = self._spawn("bigquery", command, extra_env=env)
        self._wait("bigquery", proc, lambda: http_ok(f"{self._url('bigquery')}/readyz"))
        create_dataset(self._url("bigquery"), PROJECT_ID, DATASET)
        from twin.warehouse import create_table  # the stack's table, from the same definition

        create_table(self._url("bigquery"), PROJECT_ID, DATASET)

    def _start_files(self) -> None:
        command = [
            sys.executable,
            "-m",
            "twin.file_server",
            "--dir",
            str(self.data_dir),
            "--port",
            str(self.ports.files),
        ]
        proc = self._spawn("files", command)
        self._wait("files", proc, lambda: http_ok(self._url("files") + "/"))

    def _start_mage(self) -> None:
        command = [
            str(mage_executable()),
            "start",
            MAGE_PROJECT,
            "--host",
            HOST,
            "--port",
            str(self.ports.mage),
        ]
        (self.state_dir / "mage_data").mkdir(exist_ok=True)
        env = env_contract.resolve("twin", {}, only_server=True)  # login off, ENV=dev
        given = os.environ.get("PYTHONWARNINGS", "")
        env["PYTHONWARNINGS"] = ",".join(filter(None, [given, QUIET_WARNINGS]))
        # The patches every Mage of this project runs with, the image's too (mage_site/).
        site = str(MAGE_SITE)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")]))
        proc = self._spawn("mage", command, extra_env=env, cwd=REPO_ROOT)
        self._wait("mage", proc, lambda: http_ok(self._url("mage") + "/"))

    def _spawn(
        self,
        service: str,
        command: list[str],
        extra_env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> subprocess.Popen:
        env = {**self.subprocess_env(), **(extra_env or {})}
        log = self.log_path(service)
        with signals_deferred():  # a Ctrl-C now lands after the record: the child is stopped
            proc = spawn(command, log, env, cwd=cwd or self.state_dir, user=user)
            self._procs[service] = proc
            self._records[service] = ServiceRecord(
                name=service,
                pid=proc.pid,
                pgid=proc.pid,
                start_time=process_start_time(proc.pid),
                url=self.urls.get(service, self._url(service)),
                log=str(log),
            )
            self._save_state()
        return proc

    def _wait(self, service: str, proc: subprocess.Popen, ready: Callable[[], bool]) -> None:
        timeout = READY_TIMEOUTS[service]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise TwinError(
                    f"The {service} service exited during start-up (exit code {proc.returncode}); "
                    f"see its log {self.log_path(service)}."
                )
            if ready():
                return
            time.sleep(0.2)
        raise TwinError(
            f"The {service} service did not become ready within {timeout} s; "
            f"see its log {self.log_path(service)}."
        )

    def _prepare_data_dir(self) -> None:
        if self.data_dir_configured:
            if not self.data_dir.is_dir():
                raise TwinError(
                    f"TAXI_DATA_DIR {self.data_dir} is not a folder; point it at a folder of "
                    "<color>/<color>_tripdata_<YYYY>-<MM>.csv.gz files or unset it."
                )
            return
        generate_sample_data(self.data_dir, rows=sample_rows())

    def _save_state(self) -> None:
        TwinState(
            owner_pid=os.getpid(),
            owner_start_time=process_start_time(os.getpid()),
            ports=self.ports.as_dict(),
            mage=self.mage,
            data_dir=str(self.data_dir),
            services=[self._records[s] for s in SERVICES if s in self._records],
            sample_rows=None if self.data_dir_configured else sample_rows(),
        ).save(self.state_dir)

    # -- reuse and health --------------------------------------------------------------------

    def reuse_note(self) -> str | None:
        """One sentence when the reused twin is not what this start asked for."""
        if not (self.reused and self.reuse_differences):
            return None
        return (
            f"Reusing the local GCP twin already running from {self.state_dir}, but "
            f"{'; '.join(self.reuse_differences)}: run `make down`, then start it again to get "
            "what you asked for."
        )

    def _adopt(self, state: TwinState) -> None:
        self.ports = TwinPorts(**state.ports)
        self.mage = state.mage
        self.data_dir = Path(state.data_dir)
        self._records = {record.name: record for record in state.services}
        self.reused = True

    def _reusable(self, state: TwinState) -> bool:
        """True when the recorded twin runs and answers; False when it is a leftover to replace
        (its owner gone, a service missing or dead).

        A twin whose services are alive but slow to answer (a busy machine, Mage mid-run) is
        waited for, up to :data:`REUSE_WAIT_SECONDS`, then reported, never stopped: it belongs to
        another terminal or session.
        """
        if not pid_alive(state.owner_pid, state.owner_start_time):
            return False
        expected = {s for s in SERVICES if state.mage or s != "mage"}
        if {r.name for r in state.services} != expected:
            return False
        deadline = time.monotonic() + REUSE_WAIT_SECONDS
        while True:
            health = {r.name: service_health(self.state_dir, state, r) for r in state.services}
            if not all(alive for alive, _ in health.values()):
                return False
            silent = [name for name, (_, answering) in health.items() if not answering]
            if not silent:
                return True
            if time.monotonic() >= deadline:
                raise TwinError(
                    f"The local GCP twin running from {self.state_dir} (owner pid "
                    f"{state.owner_pid}) has {', '.join(silent)} alive but not answering after "
                    f"{REUSE_WAIT_SECONDS:.0f} s; see the logs in {self.logs_dir}, or stop it "
                    "with `make down` and start again."
                )
            time.sleep(0.5)

    def failed_service(self) -> str | None:
        """Name of the first service started by this object that has exited, if any."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                return name
        return None

    # -- stop --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process group this twin started (reverse order) and forget the state;
        a Ctrl-C meanwhile is delivered once everything is stopped."""
        with signals_deferred():
            if self.reused:
                stop_recorded(self.state_dir)
                self._records.clear()
                return
            for name in reversed(SERVICES):
                self._stop_one(name)
            TwinState.remove(self.state_dir)

    def start_mage(self) -> None:
        """Start Mage on this already running twin (on ``ports.mage``)."""
        ensure_ports_free(self.ports, ["mage"])
        self.mage = True
        try:
            self._start_mage()
        except BaseException:
            self.stop_mage()
            raise

    def stop_mage(self) -> None:
        """Stop Mage (and its children) but leave the other services running."""
        self._stop_one("mage")
        self.mage = False
        if self._records:
            self._save_state()

    def _stop_one(self, name: str) -> None:
        record = self._records.pop(name, None)
        proc = self._procs.pop(name, None)
        if proc is not None:
            proc.poll()  # reap an exited leader so its group is recognised below
        if record is not None and group_is_ours(record.pgid, record.start_time):
            stop_group(record.pgid, STOP_SIGNALS.get(name, signal.SIGTERM), leader=proc)


def stop_recorded(state_dir: Path, owner_timeout: float = 60.0) -> list[str]:
    """Stop the twin recorded in ``state_dir`` from any process; return the services stopped.

    A living owner (``python -m twin up`` in another terminal, or a test session) is asked to stop with
    SIGTERM so it shuts its services down itself; whatever is left is then stopped directly.
    """
    state = TwinState.load(state_dir)
    if state is None:
        return []
    if state.owner_pid != os.getpid() and pid_alive(state.owner_pid, state.owner_start_time):
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.owner_pid, signal.SIGTERM)
        deadline = time.monotonic() + owner_timeout
        while time.monotonic() < deadline and pid_alive(state.owner_pid, state.owner_start_time):
            time.sleep(0.2)
    for record in reversed(state.services):
        if group_is_ours(record.pgid, record.start_time):
            stop_group(record.pgid, STOP_SIGNALS.get(record.name, signal.SIGTERM))
    TwinState.remove(state_dir)
    return [record.name for record in state.services]

"""A Cloud SQL for PostgreSQL stand-in: Debian's PostgreSQL server, SSL only, Cloud SQL's roles.

What it reproduces (https://cloud.google.com/sql/docs/postgres/users): customers get no
superuser; every user created through the Cloud SQL API (``gcp.sql.User``) is a LOGIN role with
CREATEROLE and CREATEDB and a member of ``cloudsqlsuperuser`` (itself NOLOGIN, CREATEDB,
CREATEROLE); databases created through the API (``gcp.sql.Database``) are owned by
``cloudsqlsuperuser``; no schema besides ``public`` exists. ``sslMode: ENCRYPTED_ONLY``
(https://cloud.google.com/sql/docs/postgres/configure-ssl-instance) becomes a pg_hba.conf with
``hostssl`` lines only, password auth (scram-sha-256), no ``host``/``local``/``trust`` lines.
The plan's ``database_flags`` (e.g. ``log_connections``) are applied as server settings, among
them ``max_connections``, which the stack always sets (the tier's default or what its backfills
need: infra/policy/policy_rules.py); without it the stand-in takes the value Cloud SQL sets for
``tier`` (https://cloud.google.com/sql/docs/postgres/quotas#maximum_concurrent_connections), so it
refuses connections as early as the planned instance. PostgreSQL keeps 3 of them for superusers,
as on Cloud SQL.

The internal superuser is called ``cloudsqladmin`` as Cloud SQL's own; only this fixture uses it.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from twin import postgres as twin_postgres
from twin.ports import free_port
from twin.process import spawn, stop_group

from infra.policy.policy_rules import sql_max_connections

HOST = "127.0.0.1"
ADMIN = "cloudsqladmin"
GROUP_ROLE = "cloudsqlsuperuser"
#: The one client-auth rule of an ENCRYPTED_ONLY instance reached over TCP.
HBA_LINES = ("hostssl all all 127.0.0.1/32 scram-sha-256",)
START_TIMEOUT_S = 60


class StandInError(RuntimeError):
    """The stand-in server could not be prepared."""


def server_bin_dir() -> Path:
    """Debian's PostgreSQL server binaries (newest installed major version)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    if not found:
        raise StandInError(
            "Debian's PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/postgres); "
            "run `make setup` (scripts/setup.sh installs the apt package postgresql)."
        )
    return found[-1].parent


def self_signed_cert(directory: Path, owner: str) -> tuple[Path, Path]:
    """A throw-away server certificate for CN=127.0.0.1 (openssl), readable only by ``owner``."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    key.chmod(0o600)
    shutil.chown(key, owner, owner)
    shutil.chown(cert, owner, owner)
    return cert, key


@dataclass
class CloudSqlStandIn:
    """One server under ``root`` on a free loopback port; ``start()``, ``provision()``, ``stop()``."""

    root: Path
    flags: dict[str, str] = field(default_factory=dict)
    #: The planned tier: Cloud SQL's max_connections for it unless ``flags`` sets one.
    tier: str = "db-f1-micro"
    port: int = field(default_factory=free_port)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _proc: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def start(self) -> CloudSqlStandIn:
        bindir = server_bin_dir()
        user = twin_postgres.run_as_user()
        if user is not None:
            twin_postgres.ensure_system_user(user)
            twin_postgres.make_traversable(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "admin-password"
        pwfile.write_text(self.admin_password)
        if user is not None:
            shutil.chown(self.root, user, user)
            shutil.chown(pwfile, user, user)
        initdb = subprocess.run(
            [str(bindir / "initdb"), "-D", str(self.data_dir), "-U", ADMIN, "--pwfile", str(pwfile),
             "--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C.UTF-8"],
            capture_output=True, text=True, timeout=120, user=user, extra_groups=[] if user else None,
        )  # fmt: skip
        pwfile.unlink()
        if initdb.returncode != 0:
            raise StandInError(f"initdb failed for the Cloud SQL stand-in: {initdb.stderr.strip()}")
        cert, key = self_signed_cert(self.root, user or "root")
        (self.data_dir / "pg_hba.conf").write_text("\n".join(HBA_LINES) + "\n")
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            "ssl": "on",
            "ssl_cert_file": f"'{cert}'",
            "ssl_key_file": f"'{key}'",
            "password_encryption": "'scram-sha-256'",
            "fsync": "off",  # a test server: durability is not what is under test
            "max_connections": str(sql_max_connections(self.tier)),
            **{name: f"'{value}'" for name, value in self.flags.items()},
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._proc = spawn(
            [str(bindir / "postgres"), "-D", str(self.data_dir)], self.log_path, {}, user=user
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise StandInError(f"the Cloud SQL stand-in exited; see {self.log_path}")
            try:
                self.admin_connect("postgres").close()
                return self
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise StandInError(f"the Cloud SQL stand-in did not start in {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self._proc is not None:
            stop_group(self._proc.pid, leader=self._proc)
            self._proc = None

    def connect(self, user: str, password: str, dbname: str, **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host=HOST, port=self.port, user=user, password=password, dbname=dbname,
            sslmode=kwargs.pop("sslmode", "require"), connect_timeout=10, **kwargs,
        )  # fmt: skip

    def admin_connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return self.connect(ADMIN, self.admin_password, dbname, autocommit=True)

    def reset(self, users: dict[str, str], databases: list[str]) -> None:
        """Cloud SQL's layout on fresh databases: the group role, the users (name -> password)
        as the Cloud SQL API creates them, and the databases owned by the group role."""
        group = sql.Identifier(GROUP_ROLE)
        with self.admin_connect() as conn:
            for name in databases:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            if not conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", [GROUP_ROLE]
            ).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN CREATEDB CREATEROLE").format(group))
            for name, password in users.items():
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {} IN ROLE {}"
                    ).format(sql.Identifier(name), sql.Literal(password), group)
                )
            for name in databases:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), group)
                )

    def authorized_connections(self) -> list[str]:
        """``connection authorized`` lines of the server log (needs ``log_connections=on``)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if re.search(r"connection authorized:", line)]

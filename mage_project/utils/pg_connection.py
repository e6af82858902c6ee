"""Connections to the pipelines' Postgres: the DSN from ``POSTGRES_*``, connects with back-off
and one sentence for a refusal or an unreachable server, and the Postgres deadlines
(``TAXI_POSTGRES_DEADLINE_SECONDS``) a session runs under. Below both the slice locks
(locks.py) and the loads (postgres.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from mage_project.utils import deadline as deadlines
from mage_project.utils.deadline import Deadline
from mage_project.utils.errors import TaxiDataError, short_reason
from mage_project.utils.retries import call_with_retries
from mage_project.utils.settings import env, retry_attempts


def dsn_from_env() -> str:
    """A libpq connection string from the ``POSTGRES_*`` variables (as io_config.yaml reads them)."""
    parts = {
        "host": env("POSTGRES_HOST"),
        "port": env("POSTGRES_PORT", "5432"),
        "dbname": env("POSTGRES_DBNAME"),
        "user": env("POSTGRES_USER"),
        "password": env("POSTGRES_PASSWORD", ""),
        "connect_timeout": "10",
    }
    return psycopg.conninfo.make_conninfo(**parts)


def _where(dsn: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return f"PostgreSQL at {info.get('host', 'localhost')}:{info.get('port', 5432)} (database {info.get('dbname', '?')})"


# libpq's words when the server answered and said no (libpq's text, as psycopg reports it):
# (pattern, what is wrong, what to do). Retrying cannot help any of them.
_REFUSALS = (
    (
        r'password authentication failed for user "([^"]+)"',
        # (servers with password auth say this for an unknown user too, revealing nothing)
        "rejected the login of user {0} (a wrong password, or no such user)",
        "check POSTGRES_USER and set POSTGRES_PASSWORD to that user's password (on Cloud Run: "
        "its Secret Manager secret)",
    ),
    (
        r'role "([^"]+)" does not exist',
        "has no user (role) {0}",
        "create it or fix POSTGRES_USER",
    ),
    (
        r'database "([^"]+)" does not exist',
        "has no database {0}",
        "create it or fix POSTGRES_DBNAME",
    ),
    (
        r"server does not support SSL, but SSL was required",
        "does not offer SSL while PGSSLMODE requires it",
        "enable SSL on the server, or unset PGSSLMODE for a local server without SSL",
    ),
    (
        r"no pg_hba\.conf entry for .*(no encryption|SSL off)",
        "accepts only SSL connections",
        "set PGSSLMODE=require (as the cloud's environment does)",
    ),
    (
        r"no pg_hba\.conf entry for host",
        "does not admit this client, user and database (pg_hba.conf)",
        "ask its administrator to allow it or fix POSTGRES_USER/POSTGRES_DBNAME",
    ),
    (
        r"(SSL error|certificate verify failed|SSL SYSCALL error)",
        "failed the SSL handshake",
        "check PGSSLMODE and the server's certificate",
    ),
)


def refusal(dsn: str, error: BaseException) -> TaxiDataError | None:
    """The server refused the connection (authentication, SSL, a missing role or database):
    one sentence saying which, or None when the error is not a refusal (e.g. down)."""
    text = str(error)
    for pattern, what, fix in _REFUSALS:
        match = re.search(pattern, text)
        if match:
            return TaxiDataError(f"{_where(dsn)} {what.format(*match.groups())}; {fix} and re-run.")
    return None


def _retryable(kind: type[BaseException], dsn: str) -> Callable[[BaseException], bool]:
    """Retry a failed connect while the server may still come up, never a refusal."""
    return lambda e: isinstance(e, kind) and refusal(dsn, e) is None


def _unreachable(dsn: str, error: BaseException) -> TaxiDataError:
    refused = refusal(dsn, error)
    if refused:
        return refused
    return TaxiDataError(
        f"{_where(dsn)} is not reachable after {retry_attempts()} attempts ({short_reason(error)}); start it (`make up`) or fix POSTGRES_HOST/POSTGRES_PORT and re-run."
    )


def postgres_deadline(dsn: str) -> Deadline:
    """The deadline of the enclosing Postgres scope, else a new one starting now."""
    return deadlines.active("postgres") or Deadline.start(
        "postgres", _where(dsn), "check that the server answers (`make up`, POSTGRES_HOST)"
    )


def _connect_timeout(deadline: Deadline) -> int:
    return max(1, min(10, int(deadline.remaining()) or 1))


def connect(dsn: str, deadline: Deadline | None = None) -> psycopg.Connection:
    """Connect, retrying with back-off while the server is down; then one clear error."""
    deadline = deadline or postgres_deadline(dsn)
    try:
        return call_with_retries(
            lambda: psycopg.connect(dsn, connect_timeout=_connect_timeout(deadline)),
            _retryable(psycopg.OperationalError, dsn),
            ends=deadline.ends,
        )
    except psycopg.OperationalError as error:
        if deadline.passed():
            raise deadline.error() from None
        raise _unreachable(dsn, error) from None


@contextmanager
def guarded(conn: psycopg.Connection, deadline: Deadline) -> Iterator[psycopg.Connection]:
    """Use ``conn`` under ``deadline``: when it passes, the socket is shut down (a stalled
    server cannot hold the run) and the error becomes the deadline's sentence."""
    fd = conn.fileno()
    try:
        with deadline.guard_socket(lambda: [fd]):
            yield conn
    except psycopg.Error:
        if deadline.expired or deadline.passed():
            raise deadline.error() from None
        raise


def lock_wait(dsn: str, slice_id: str) -> Deadline:
    """The deadline of waiting for a slice lock (a fresh one: the wait is not the load)."""
    return Deadline.start(
        "postgres",
        f"{_where(dsn)}, waiting for the lock of slice {slice_id},",
        "wait for the other run of that slice to end, check that the server answers",
    )

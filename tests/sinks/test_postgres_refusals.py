"""A PostgreSQL server that answers "no" (password, role, database, SSL) is named for what it
said, at once: no retries, and never the "not reachable, start it" sentence of a server down."""

from __future__ import annotations

import time

import psycopg
import pytest

from mage_project.utils import postgres
from mage_project.utils.errors import TaxiDataError


@pytest.fixture
def dsn_for(twin, monkeypatch):
    """A libpq DSN for the twin's Postgres with some settings changed; connects are counted."""
    monkeypatch.setenv("TAXI_RETRY_BACKOFF_SECONDS", "2")
    attempts: list[float] = []
    real_connect = psycopg.connect

    def counted_connect(*args, **kwargs):
        attempts.append(time.monotonic())
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", counted_connect)
    env = twin.env

    def make(**changes: str) -> tuple[str, list[float]]:
        parts = {
            "host": env["POSTGRES_HOST"],
            "port": env["POSTGRES_PORT"],
            "dbname": env["POSTGRES_DBNAME"],
            "user": env["POSTGRES_USER"],
            "password": env["POSTGRES_PASSWORD"],
            "connect_timeout": "10",
        } | changes
        return psycopg.conninfo.make_conninfo(**parts), attempts

    return make


def _where(twin) -> str:
    return f"PostgreSQL at {twin.env['POSTGRES_HOST']}:{twin.env['POSTGRES_PORT']}"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"password": "wrong-password"},
         "rejected the login of user {user} (a wrong password, or no such user); check POSTGRES_USER"),
        # scram-sha-256 answers an unknown user like a wrong password (the twin, Cloud SQL)
        ({"user": "nobody_here"}, "rejected the login of user nobody_here"),
        ({"dbname": "no_such_db"}, "has no database no_such_db; create it or fix POSTGRES_DBNAME"),
        ({"sslmode": "require"}, "does not offer SSL while PGSSLMODE requires it"),
    ],
)  # fmt: skip
def test_refusal_is_named_and_not_retried(twin, dsn_for, changes, says):
    dsn, attempts = dsn_for(**changes)
    started = time.monotonic()
    with pytest.raises(TaxiDataError) as error:
        postgres.connect(dsn)
    message = str(error.value)
    assert message.startswith(_where(twin)), message
    assert says.format(user=twin.env["POSTGRES_USER"]) in message
    assert "not reachable" not in message and "\n" not in message and message.endswith(".")
    assert len(attempts) == 1 and time.monotonic() - started < 2  # back-off would be >= 2 s


@pytest.mark.parametrize(
    ("libpq", "says"),
    [
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "taxi", database "taxi", '
         "no encryption", "accepts only SSL connections; set PGSSLMODE=require"),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "taxi", database "taxi", SSL off',
         "accepts only SSL connections"),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "taxi", database "taxi", '
         "SSL encryption", "does not admit this client"),
        ("SSL error: certificate verify failed", "failed the SSL handshake"),
        ('FATAL:  role "nobody" does not exist', "has no user (role) nobody; create it"),
    ],
)  # fmt: skip
def test_cloud_sql_refusals_are_recognised(libpq: str, says: str):
    """What Cloud SQL (hostssl only) answers; the Cloud Run contract tests meet it live."""
    dsn = "host=10.0.0.5 port=5432 dbname=taxi user=taxi"
    refused = postgres.refusal(dsn, psycopg.OperationalError(f"connection failed: {libpq}"))
    assert refused is not None and says in str(refused)
    assert postgres.refusal(dsn, psycopg.OperationalError("Connection refused")) is None

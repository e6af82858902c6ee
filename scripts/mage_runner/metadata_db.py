"""Mage's own metadata database (``MAGE_DATABASE_CONNECTION_URL``): a bounded connect.

Mage opens that URL when ``mage_ai.orchestration.db`` is first imported, before any block runs,
with libpq's default connect timeout: none. A Postgres that accepts the connection and never
answers (frozen, overloaded, a half-open proxy) then hangs the UI, ``mage run``, the runner and
the Cloud Run jobs with an empty log until the job's task timeout. So before Mage starts:

* :func:`bounded_url` adds ``connect_timeout`` (libpq: the whole connection set-up, TLS and
  login included) to the URL's query, so every connection Mage opens later is bounded too;
* :func:`probe` connects once with that timeout and turns a failure into one sentence naming
  the server and what to do (``MAGE_DATABASE_CONNECT_TIMEOUT_SECONDS``, default 30).
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

URL_ENV = "MAGE_DATABASE_CONNECTION_URL"
TIMEOUT_ENV = "MAGE_DATABASE_CONNECT_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT = 30


class MetadataDatabaseError(RuntimeError):
    """Mage's metadata database cannot be reached; the message says what to do."""


def connect_timeout(environ: MutableMapping[str, str]) -> int:
    """``MAGE_DATABASE_CONNECT_TIMEOUT_SECONDS`` as whole seconds (libpq's unit; at least 2,
    libpq's minimum), or one sentence if it is not a positive number."""
    raw = environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise MetadataDatabaseError(
            f"{TIMEOUT_ENV}={raw[:40]!r} is not a positive number of seconds; set it to e.g. {DEFAULT_TIMEOUT}."
        )
    return max(2, math.ceil(value))


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme.split("+")[0] in ("postgresql", "postgres")


def bounded_url(url: str, seconds: int) -> str:
    """``url`` with ``connect_timeout=<seconds>`` in its query (kept if the URL sets one)."""
    if not is_postgres(url):
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "connect_timeout" for key, _ in query):
        return url
    return urlunsplit(parts._replace(query=urlencode([*query, ("connect_timeout", seconds)])))


def describe(url: str) -> str:
    """``127.0.0.1:5432 (database mage)`` -- where the URL points, without its password."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "localhost"
    where = host if host.startswith("/") else f"{host}:{parts.port or 5432}"
    database = parts.path.lstrip("/") or "?"
    return f"{where} (database {database})"


def probe(url: str, seconds: int) -> None:
    """Connect once to Mage's metadata database within ``seconds``, or one sentence."""
    import psycopg2  # the driver Mage itself uses for this URL

    parts = urlsplit(url)
    libpq = urlunsplit(parts._replace(scheme="postgresql"))
    try:
        psycopg2.connect(libpq, connect_timeout=seconds).close()
    except psycopg2.Error as error:
        reason = " ".join(str(error).split())[:200]
        timed_out = "timeout expired" in reason
        what = (
            f"did not answer within {seconds} s ({TIMEOUT_ENV})"
            if timed_out
            else f"refused the connection ({reason})"
        )
        raise MetadataDatabaseError(
            f"Mage's metadata database at {describe(url)} {what}, so no pipeline can run; check that it is running and reachable and that {URL_ENV} points at it (the twin: `make up`; the cloud: the Cloud SQL instance), then re-run."
        ) from None


def prepare(environ: MutableMapping[str, str]) -> str | None:
    """Bound Mage's metadata connection in ``environ`` (before Mage reads it) and check that
    the database answers; returns what was done, or None when the URL is not Postgres."""
    url = environ.get(URL_ENV, "").strip()
    if not url or not is_postgres(url):
        return None
    seconds = connect_timeout(environ)
    environ[URL_ENV] = bounded_url(url, seconds)
    probe(environ[URL_ENV], seconds)
    return f"Mage's metadata database at {describe(url)} answered (connect timeout {seconds} s)"

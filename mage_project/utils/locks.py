"""Advisory locks in PostgreSQL that make runs of the same slice take turns.

Postgres loads lock inside their own transaction (``pg_advisory_xact_lock(lock_key(...))``);
sinks without transactions of their own (GCS, BigQuery) hold ``slice_lock`` while they replace
a slice. Both live in the pipelines' Postgres, which every run can reach.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from mage_project.utils import pg_connection as pg


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit advisory-lock key for e.g. (table, slice)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def slice_lock(sink: str, slice_id: str, dsn: str | None = None) -> Iterator[None]:
    """Hold the advisory lock of (``sink``, ``slice_id``) while a run replaces that slice in a
    sink with no transactions of its own (GCS, BigQuery): a second run of the same slice waits
    here until the first is done. The lock is a PostgreSQL session lock, so a run that dies
    releases it with its connection; the wait and the session run under Postgres deadlines."""
    dsn = dsn or pg.dsn_from_env()
    with pg.connect(dsn) as conn:
        conn.autocommit = True
        key = lock_key("slice", sink, slice_id)
        with pg.guarded(conn, pg.lock_wait(dsn, slice_id)):
            conn.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            yield
        finally:
            with pg.guarded(conn, pg.postgres_deadline(dsn)):
                conn.execute("SELECT pg_advisory_unlock(%s)", [key])

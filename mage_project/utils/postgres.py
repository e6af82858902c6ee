"""Step 3a (export): replace one slice of a Postgres table, crash-safe and idempotent.

The table is partitioned by ``source_month`` (LIST), one partition per slice. A load is ONE
transaction:

1. ``pg_advisory_xact_lock(hash(table, slice))`` — a second run of the same slice waits here
   until the first commits or dies (then it simply redoes the slice);
2. ``CREATE TABLE <table>__<slice>__load`` and a binary ``COPY ... FROM STDIN`` of the typed
   rows, Arrow batch by Arrow batch (the typed parquet read back, or the CSV typed as it streams
   in), encoded column by column with numpy (pg_binary.py) by a helper thread while psycopg
   sends the previous batch (no month in memory, no row-by-row work in Python, no text for the
   server to parse);
3. swap: detach and drop the old partition, rename the new table, attach it (a CHECK
   constraint makes the attach skip its validation scan).

A crash or kill before COMMIT rolls everything back: the table is exactly as before. Readers
of other slices are never blocked by the COPY, only by the millisecond swap. Before the swap the
rows that landed are counted and must equal the rows the transform kept (else: rollback).

Every session runs under the Postgres deadline (``TAXI_POSTGRES_DEADLINE_SECONDS``, see
deadline.py): a server that stops answering mid-load has its socket shut down when the deadline
passes, so the run fails in bounded time, the transaction is rolled back and the locks go with
the session. Connections, refusals and the deadlines live in pg_connection.py (below the locks).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress

import psycopg
import pyarrow as pa
from psycopg import sql

from mage_project.utils import deadline as deadlines
from mage_project.utils import pg_binary
from mage_project.utils.deadline import Deadline
from mage_project.utils.errors import TaxiDataError, short_reason
from mage_project.utils.locks import lock_key
from mage_project.utils.pg_connection import (  # noqa: F401 - also the API as postgres.<name>
    connect,
    dsn_from_env,
    guarded,
    lock_wait,
    postgres_deadline,
    refusal,
)
from mage_project.utils.results import LoadResult, RowCountMismatch
from mage_project.utils.settings import env

PREFETCH = 4  # batches read and encoded ahead of the COPY
COPY_BATCH_ROWS = 32_768  # rows per batch sent: small batches keep memory flat
_DONE = object()
PG_TYPES = {
    pa.int64(): "bigint",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.date32(): "date",
    pa.timestamp("us"): "timestamp",
}


def split_table(table: str) -> tuple[str, str]:
    """``"ny_taxi.yellow_cab_data"`` → (schema, name)."""
    schema, _, name = table.rpartition(".")
    return schema or env("POSTGRES_SCHEMA", "public"), name


def _columns(schema: pa.Schema) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(PG_TYPES[f.type])) for f in schema
    )


def partition_name(table: str, slice_id: str) -> str:
    return f"{table}__{slice_id.replace('-', '_')}"


_KINDS = {"v": "a view", "m": "a materialized view", "f": "a foreign table", "S": "a sequence",
          "i": "an index", "c": "a type"}  # fmt: skip


def ensure_table(conn: psycopg.Connection, table: str, schema: pa.Schema) -> None:
    """Create the schema and the partitioned parent table if missing (under a table lock);
    refuse, in one sentence, a table someone changed (another kind, columns or types)."""
    namespace, name = split_table(table)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(namespace, name)])
        kind = conn.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            [namespace, name],
        ).fetchone()
        if kind and kind[0] in _KINDS:
            raise TaxiDataError(
                f"Postgres {namespace}.{name} is {_KINDS[kind[0]]}, not the pipeline's table; drop or rename it (the next run creates the table), then re-run."
            )
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(namespace)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} ({}) PARTITION BY LIST (source_month)"
            ).format(sql.Identifier(namespace), sql.Identifier(name), _columns(schema))
        )
        partitioned = conn.execute(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            [namespace, name],
        ).fetchone()
    if not partitioned:
        raise TaxiDataError(
            f"Postgres table {namespace}.{name} exists but is not partitioned by source_month (it was made by another tool); "
            "drop or rename it and re-run."
        )
    check_columns(conn, namespace, name, schema)


def check_columns(conn: psycopg.Connection, namespace: str, name: str, schema: pa.Schema) -> None:
    """The table must have exactly the pipeline's columns and types (a user's ALTER TABLE would
    otherwise fail the swap with the database's wording, or mix two layouts)."""
    found = dict(
        conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            [f'"{namespace}"."{name}"'],
        ).fetchall()
    )
    canonical = {"timestamp": "timestamp without time zone"}  # how format_type() spells it
    wanted = {f.name: canonical.get(PG_TYPES[f.type], PG_TYPES[f.type]) for f in schema}
    table = f"{namespace}.{name}"
    fix = f"or drop the table so the next run recreates it (DROP TABLE {table}; every slice must then be re-run)"
    extra = [c for c in found if c not in wanted]
    if extra:
        raise TaxiDataError(
            f"Postgres table {table} has column{'s' if len(extra) > 1 else ''} {', '.join(extra)} that the pipeline does not write; "
            f"drop {'them' if len(extra) > 1 else 'it'} (ALTER TABLE {table} DROP COLUMN {extra[0]}) {fix}."
        )
    missing = [c for c in wanted if c not in found]
    if missing:
        raise TaxiDataError(
            f"Postgres table {table} lacks the pipeline's column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"add {'them' if len(missing) > 1 else 'it'} back (ALTER TABLE {table} ADD COLUMN {missing[0]} {wanted[missing[0]]}) {fix}."
        )
    changed = [c for c in wanted if found[c] != wanted[c]]
    if changed:
        column = changed[0]
        raise TaxiDataError(
            f"Postgres table {table} has column {column} as {found[column]} but the pipeline writes {wanted[column]}; "
            f"change it back (ALTER TABLE {table} ALTER COLUMN {column} TYPE {wanted[column]} USING {column}::{wanted[column]}) {fix}."
        )


def _ahead(
    batches: Iterable[pa.RecordBatch], failure: list[BaseException]
) -> Iterator[pa.RecordBatch]:
    """``batches``, produced by a helper thread a few items ahead (Arrow's parsing and decoding
    and numpy's encoding release the GIL), so producing overlaps the COPY. An error of the
    source is kept in ``failure`` too, so that it, not the aborted COPY's, is reported."""
    pending: queue.Queue = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            put(error)

    threading.Thread(target=produce, name="copy-reader", daemon=True).start()
    try:
        while (item := pending.get()) is not _DONE:
            if isinstance(item, BaseException):
                failure.append(item)
                raise item
            yield item
    finally:
        stop.set()


def _encoded(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[tuple[int, bytes]]:
    """(rows, binary COPY tuples) of each batch, in the table's columns and types."""
    for batch in batches:
        if batch.schema.names != schema.names:
            raise ValueError(f"batch columns {batch.schema.names} are not {schema.names}")
        if not batch.schema.equals(schema):
            batch = batch.cast(schema)
        yield batch.num_rows, pg_binary.encode(batch)


def replace_slice(
    dsn: str,
    table: str,
    slice_id: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    expected_rows: int | None = None,
) -> LoadResult:
    """Replace the rows of ``slice_id`` in ``table`` by ``batches`` (see the module docstring);
    ``expected_rows``: what the transform kept, checked against what landed before COMMIT."""
    deadline = postgres_deadline(dsn)
    with deadlines.scope("postgres", deadline.what, deadline.advice):
        return _replace_slice(dsn, table, slice_id, schema, batches, expected_rows, deadline)


def _replace_slice(
    dsn: str,
    table: str,
    slice_id: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    expected_rows: int | None,
    deadline: Deadline,
) -> LoadResult:
    started = time.perf_counter()
    namespace, name = split_table(table)
    part = partition_name(name, slice_id)
    load = f"{part}__load"
    ident = sql.Identifier
    rows = [0]
    failure: list[BaseException] = []
    with connect(dsn, deadline) as conn, guarded(conn, deadline):
        ensure_table(conn, table, schema)

        def text(query: sql.Composable) -> str:
            return query.as_string(conn)

        statements = {
            "create": text(
                sql.SQL(
                    "CREATE TABLE {}.{} ({}, CHECK (source_month IS NOT NULL AND source_month = {}))"
                ).format(ident(namespace), ident(load), _columns(schema), sql.Literal(slice_id))
            ),
            "exists": text(
                sql.SQL("SELECT to_regclass({})").format(sql.Literal(f'"{namespace}"."{part}"'))
            ),
            "detach": text(
                sql.SQL("ALTER TABLE {}.{} DETACH PARTITION {}.{}").format(
                    ident(namespace), ident(name), ident(namespace), ident(part)
                )
            ),
            "drop": text(sql.SQL("DROP TABLE {}.{}").format(ident(namespace), ident(part))),
            "copy": text(
                sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT BINARY)").format(
                    ident(namespace), ident(load), sql.SQL(", ").join(map(ident, schema.names))
                )
            ),
            "count": text(
                sql.SQL("SELECT count(*) FROM {}.{}").format(ident(namespace), ident(load))
            ),
            "rename": text(
                sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(
                    ident(namespace), ident(load), ident(part)
                )
            ),
            "attach": text(
                sql.SQL("ALTER TABLE {}.{} ATTACH PARTITION {}.{} FOR VALUES IN ({})").format(
                    ident(namespace),
                    ident(name),
                    ident(namespace),
                    ident(part),
                    sql.Literal(slice_id),
                )
            ),  # fmt: skip
        }
    loader = connect(dsn, deadline)  # one transaction: no commit = rolled back
    sockets = [loader.fileno()]
    used: list[Deadline] = []

    def bounded() -> Deadline:  # a fresh Postgres deadline, guarding the load's socket
        used.append(Deadline.start("postgres", deadline.what, deadline.advice))
        return used[-1]

    try:
        with loader.cursor() as cur:
            key = lock_key(namespace, name, slice_id)

            used.append(lock_wait(dsn, slice_id))
            with used[-1].guard_socket(lambda: sockets):  # another run of the slice: wait
                cur.execute(f"SELECT pg_advisory_xact_lock({key:d})")
            with bounded().guard_socket(lambda: sockets):  # the slice is ours: a fresh deadline
                cur.execute(statements["create"])
                with cur.copy(statements["copy"]) as copy:
                    copy.write(pg_binary.HEADER)
                    for count, data in _ahead(_encoded(batches, schema), failure):
                        copy.write(data)
                        rows[0] += count
                    copy.write(pg_binary.TRAILER)
                landed = cur.execute(statements["count"]).fetchone()[0]
                _check_rows(f"Postgres table {namespace}.{name}", slice_id, landed, rows[0],
                            expected_rows)  # fmt: skip
                if cur.execute(statements["exists"]).fetchone()[0] is not None:
                    cur.execute(statements["detach"])
                    cur.execute(statements["drop"])
                cur.execute(statements["rename"])
                cur.execute(statements["attach"])
            loader.commit()
    except psycopg.Error as error:
        if failure:
            raise failure[0] from None
        stalled = [d for d in used if d.expired] or [d for d in used[-1:] if d.passed()]
        if stalled:
            raise stalled[0].error() from None
        if "other objects depend on it" in str(error):
            raise dependents_error(dsn, namespace, name, part, slice_id) from None
        raise TaxiDataError(
            f"Loading slice {slice_id} into Postgres table {namespace}.{name} failed ({short_reason(error)}); the table is unchanged, re-run."
        ) from None
    finally:
        loader.close()
    return LoadResult(
        sink=f"postgres:{namespace}.{name}",
        slice=slice_id,
        rows=rows[0],
        seconds=time.perf_counter() - started,
    )


_RELKINDS = {
    "v": "view",
    "m": "materialized view",
    "r": "table",
    "p": "table",
    "f": "foreign table",
}


def dependents_error(
    dsn: str, namespace: str, name: str, part: str, slice_id: str
) -> TaxiDataError:
    """A user's object (a view, a materialized view, a foreign key) depends on the slice's
    partition, so the partition cannot be replaced, and re-running cannot help: one sentence
    naming the objects and the statement that unblocks the run."""
    found: list[tuple[str, str]] = []
    with suppress(psycopg.Error), psycopg.connect(dsn, connect_timeout=10) as conn:
        found = conn.execute(
            "SELECT DISTINCT c.relkind::text, format('%%I.%%I', n.nspname, c.relname) "
            "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
            "JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE d.refobjid = to_regclass(%s) AND c.oid <> d.refobjid "
            "UNION SELECT DISTINCT 'fk', format('%%I.%%I', n.nspname, c.relname) "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE k.contype = 'f' AND k.confrelid = to_regclass(%s) ORDER BY 2",
            (f'"{namespace}"."{part}"',) * 2,
        ).fetchall()
    table = f"{namespace}.{name}"
    if not found:
        return TaxiDataError(
            f"Postgres table {table} cannot replace slice {slice_id}: other objects depend on its partition {namespace}.{part}, and re-running cannot help; drop them (see the server's log for their names), re-run, then re-create them on {table} WHERE source_month = '{slice_id}' (the table is unchanged)."
        )
    kinds = [
        ("a foreign key of table" if k == "fk" else _RELKINDS.get(k, "object"), n) for k, n in found
    ]
    named = ", ".join(f"{kind} {obj}" for kind, obj in kinds[:3]) + (
        " and more" if len(kinds) > 3 else ""
    )
    drops = " ".join(
        f"ALTER TABLE {obj} DROP CONSTRAINT <its foreign key>;" if kind.startswith("a foreign")
        else f"DROP {kind.upper()} {obj};"
        for kind, obj in kinds[:3]
    )  # fmt: skip
    one = len(kinds) == 1
    return TaxiDataError(
        f"The {named} {'depends' if one else 'depend'} on partition {namespace}.{part}, which every run of slice {slice_id} replaces, so re-running cannot help; {drops.rstrip(';')}, re-run, then re-create {'it' if one else 'them'} on {table} WHERE source_month = '{slice_id}' (the table is unchanged)."
    )


def _check_rows(sink: str, slice_id: str, landed: int, sent: int, expected: int | None) -> None:
    """Refuse to commit a slice whose landed rows differ from the rows the transform kept."""
    if landed != sent or (expected is not None and landed != expected):
        raise RowCountMismatch(sink, slice_id, landed, expected if expected is not None else sent)


def slice_counts(dsn: str, table: str) -> dict[str, int]:
    """Rows per ``source_month`` (empty if the table does not exist)."""
    namespace, name = split_table(table)
    with connect(dsn) as conn:
        if (
            conn.execute("SELECT to_regclass(%s)", [f'"{namespace}"."{name}"']).fetchone()[0]
            is None
        ):
            return {}
        query = sql.SQL("SELECT source_month, count(*) FROM {}.{} GROUP BY 1 ORDER BY 1").format(
            sql.Identifier(namespace), sql.Identifier(name)
        )
        return {month: count for month, count in conn.execute(query).fetchall()}

"""The binary COPY encoder (pg_binary.py) against PostgreSQL itself: every value of every type
the sinks write, NULLs, empty and non-ASCII text, rows of many layouts, land as they were."""

from __future__ import annotations

import math
from datetime import date, datetime

import psycopg
import pyarrow as pa
import pytest

from mage_project.utils import pg_binary, postgres

pytestmark = pytest.mark.twin

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("at", pa.timestamp("us")),
        ("day", pa.date32()),
        ("amount", pa.float64()),
        ("flag", pa.string()),
        ("month", pa.string()),
    ]
)
ROWS = [
    (1, datetime(2021, 1, 1, 0, 0, 1), date(2021, 1, 1), 9.5, "N", "2021-01"),
    (None, None, None, None, None, "2021-01"),
    (-(2**63), datetime(1999, 12, 31, 23, 59, 59, 999999), date(1970, 1, 1), -0.0, "", "2021-01"),
    (2**63 - 1, datetime(2000, 1, 1), date(1900, 2, 28), 1e308, "Ünïcødé ✓", "2021-01"),
    (7, datetime(2099, 12, 31, 23, 59, 59), date(2000, 1, 1), math.inf, "Y", "2021-01"),
    (8, datetime(2021, 2, 28, 12, 0), None, 1.25, None, "2021-01"),
]


def _landed(batch: pa.RecordBatch) -> list[tuple]:
    with psycopg.connect(postgres.dsn_from_env()) as conn:
        conn.execute(
            "CREATE TEMP TABLE t (id bigint, at timestamp, day date, amount double precision, "
            "flag text, month text)"
        )
        with conn.cursor().copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pg_binary.HEADER)
            copy.write(pg_binary.encode(batch))
            copy.write(pg_binary.TRAILER)
        return conn.execute("SELECT * FROM t").fetchall()


def _key(row: tuple) -> str:
    return repr(row)


def test_every_type_null_and_layout_lands_as_it_was(sinks):
    batch = pa.RecordBatch.from_pylist(
        [dict(zip(SCHEMA.names, r, strict=True)) for r in ROWS], SCHEMA
    )
    landed = _landed(batch)
    assert sorted(landed, key=_key) == sorted(ROWS, key=_key)


def test_a_sliced_batch_encodes_only_its_own_rows(sinks):
    whole = pa.RecordBatch.from_pylist(
        [dict(zip(SCHEMA.names, r, strict=True)) for r in ROWS * 50], SCHEMA
    )
    part = whole.slice(3, 200)  # offsets into shared buffers
    expected = [tuple(r.values()) for r in part.to_pylist()]
    assert sorted(_landed(part), key=_key) == sorted(expected, key=_key)


def test_a_nan_lands_as_nan_and_an_empty_batch_as_nothing(sinks):
    batch = pa.RecordBatch.from_pylist(
        [dict(zip(SCHEMA.names, (1, None, None, math.nan, "x", "m"), strict=True))], SCHEMA
    )
    [row] = _landed(batch)
    assert math.isnan(row[3])
    assert pg_binary.encode(batch.slice(0, 0)) == b""


def test_a_type_the_sinks_do_not_write_is_refused():
    with pytest.raises(TypeError, match="no binary COPY encoding for Arrow type int32"):
        pg_binary.encode(pa.record_batch([pa.array([1], pa.int32())], names=["x"]))

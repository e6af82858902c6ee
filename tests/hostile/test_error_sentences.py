"""Class 5: raw tracebacks and wrong reasons. Every broken input ends in ONE readable sentence
that names the file, line and column where it can, with advice that works; valid files that look
odd (stray spaces in the header, ``Content-Encoding: gzip``) load.

Adversarial generators (hypothesis) place the fault at a random row and field, add blank lines
and mutate bytes. On today's code these end in ``UnicodeDecodeError``/``ArrowKeyError``
tracebacks, "not a readable gzip file" for a UTF-8 problem, silently rounded integers, a blank
line reported as the bad row, and "failed ...; re-run" for a changed table.
"""

from __future__ import annotations

import gzip
import random

import psycopg
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mage_project.utils import ingest, postgres
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.schema import schema_for
from mage_project.utils.slices import MonthSlice
from mage_project.utils.transform import stage_typed
from tests.hostile.kit import HostileFileServer
from tests.sinks.sinkkit import pg_snapshot, row, write_rows

A = MonthSlice("yellow", 2021, 1)
COLUMNS = list(schema_for("yellow").columns)
NAME = A.file_name
FAST = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


def one_sentence(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text.endswith("."), text
    assert len(text) < 400, text
    return text


def csv_bytes(
    rows: list[dict[str, str]], header: list[str] | None = None, blank: set[int] = frozenset()
) -> bytes:
    header = header or COLUMNS
    lines = [",".join(header)]
    for index, record in enumerate(rows):
        if index in blank:
            lines.append("")
        lines.append(",".join(record.get(c, "") for c in COLUMNS))
    return ("\n".join(lines) + "\n").encode()


def stage(tmp_path, data: bytes):
    source = tmp_path / NAME
    source.write_bytes(gzip.compress(data))
    return stage_typed(source, "yellow", A.name, tmp_path / "typed.parquet")


good = [row("yellow", f"2021-01-0{d} 08:00:00", passenger_count=str(d)) for d in range(1, 8)]


@FAST
@given(at=st.integers(0, 6), column=st.sampled_from(COLUMNS),
       junk=st.sampled_from([b"\xe9", b"\xff\xfe", b"\xc3(", b"\x80"]),
       blanks=st.sets(st.integers(0, 6), max_size=3))  # fmt: skip
def test_bytes_that_are_not_utf8_are_named_with_their_line(tmp_path, at, column, junk, blanks):
    rows = [dict(r) for r in good]
    rows[at][column] = "X"
    data = csv_bytes(rows, blank=blanks).split(b"\n")
    line = 1 + at + sum(1 for b in blanks if b <= at) + 1  # header, blank lines before, 1-based
    data[line - 1] = data[line - 1].replace(b"X", junk, 1)
    with pytest.raises(TaxiDataError) as error:
        stage(tmp_path, b"\n".join(data))
    text = one_sentence(error.value)
    assert f"line {line}:" in text and "not UTF-8" in text, text


@FAST
@given(pads=st.lists(st.sampled_from(["", " ", "  ", "\t", ' "']), min_size=len(COLUMNS),
                     max_size=len(COLUMNS)))  # fmt: skip
def test_header_names_with_stray_spaces_load_like_clean_ones(tmp_path, pads):
    header = [f"{p}{c}{p[::-1]}".replace('" ', ' "') if '"' in p else f"{p}{c}{p}"
              for p, c in zip(pads, COLUMNS, strict=True)]  # fmt: skip
    typed = stage(tmp_path, csv_bytes(good, header=header))
    assert typed.rows_kept == len(good) and typed.dropped_columns == []


@given(repeated=st.sampled_from(COLUMNS))
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_repeated_header_names_are_refused_by_name(tmp_path, repeated):
    header = [*COLUMNS, repeated]
    data = csv_bytes([{**r} for r in good], header=header)
    data = b"\n".join(
        line + b",1" if i and line else line for i, line in enumerate(data.split(b"\n"))
    )
    with pytest.raises(TaxiDataError) as error:
        stage(tmp_path, data)
    assert f"names {repeated} more than once" in one_sentence(error.value)


@FAST
@given(
    value=st.integers(2**53 + 1, 2**63 - 1), column=st.sampled_from(["VendorID", "PULocationID"])
)
def test_integers_beyond_float_precision_are_kept_exactly(tmp_path, value, column):
    typed = stage(tmp_path, csv_bytes([{**good[0], column: str(value)}, *good[1:]]))
    sink = {"VendorID": "vendor_id", "PULocationID": "pu_location_id"}[column]
    assert pq.read_table(typed.path, columns=[sink])[sink][0].as_py() == value


@FAST
@given(value=st.one_of(st.integers(2**63), st.integers(max_value=-(2**63) - 1)),
       at=st.integers(0, 6), blanks=st.sets(st.integers(0, 6), max_size=3))  # fmt: skip
def test_integers_beyond_64_bit_are_one_sentence_with_the_line(tmp_path, value, at, blanks):
    rows = [dict(r) for r in good]
    rows[at]["DOLocationID"] = str(value)
    with pytest.raises(TaxiDataError) as error:
        stage(tmp_path, csv_bytes(rows, blank=blanks))
    line = 2 + at + sum(1 for b in blanks if b <= at)
    text = one_sentence(error.value)
    assert f"line {line}, column DOLocationID" in text and "beyond the 64-bit" in text, text


@FAST
@given(at=st.integers(0, 6), blanks=st.sets(st.integers(0, 6), max_size=4), extra=st.booleans())
def test_line_numbers_count_blank_lines(tmp_path, at, blanks, extra):
    rows = [dict(r) for r in good]
    if extra:
        data = csv_bytes(rows, blank=blanks).split(b"\n")
        line = 2 + at + sum(1 for b in blanks if b <= at)
        data[line - 1] += b",surplus"
        data = b"\n".join(data)
        fragment = f"line {line}: the row has {len(COLUMNS) + 1} fields"
    else:
        rows[at]["fare_amount"] = "twelve"
        data = csv_bytes(rows, blank=blanks)
        fragment = f"line {2 + at + sum(1 for b in blanks if b <= at)}, column fare_amount"
    with pytest.raises(TaxiDataError) as error:
        stage(tmp_path, data)
    assert fragment in one_sentence(error.value)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10**6), flips=st.integers(1, 6), where=st.sampled_from(["csv", "gzip"]))
def test_mutated_bytes_load_or_fail_with_one_sentence(tmp_path, seed, flips, where):
    rng = random.Random(seed)
    data = bytearray(csv_bytes(good))
    packed = bytearray(gzip.compress(bytes(data))) if where == "gzip" else None
    target = packed if packed is not None else data
    for _ in range(flips):
        target[rng.randrange(len(target))] = rng.randrange(256)
    source = tmp_path / NAME
    source.write_bytes(bytes(packed) if packed is not None else gzip.compress(bytes(data)))
    try:
        stage_typed(source, "yellow", A.name, tmp_path / "typed.parquet")
    except TaxiDataError as error:
        one_sentence(error)


# --- what the file server answers --------------------------------------------------------------


@pytest.mark.twin
@pytest.mark.parametrize("mode", ["gzip-encoding", "gzip-twice"])
def test_a_file_sent_with_content_encoding_gzip_loads(sinks, files, monkeypatch, mode):
    write_rows(files.root, A, good)
    server = HostileFileServer(files.root, mode=mode).start()
    monkeypatch.setenv("TAXI_DATA_BASE_URL", server.url)
    try:
        typed = ingest.transform(ingest.load(A))
    finally:
        server.stop()
    assert typed.rows_kept == len(good)


@pytest.mark.twin
def test_a_server_answering_html_is_named_as_such(sinks, files, monkeypatch):
    write_rows(files.root, A, good)
    server = HostileFileServer(files.root, mode="html").start()
    monkeypatch.setenv("TAXI_DATA_BASE_URL", server.url)
    try:
        with pytest.raises(TaxiDataError) as error:
            ingest.load(A)
    finally:
        server.stop()
    text = one_sentence(error.value)
    assert "web page (HTML)" in text and "TAXI_DATA_BASE_URL" in text


# --- a user's change to the table: the sentence's advice works -----------------------------------


@pytest.mark.twin
@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            "ALTER TABLE {t} ADD COLUMN note text",
            "has column note that the pipeline does not write",
        ),
        ("ALTER TABLE {t} ALTER COLUMN fare_amount TYPE text", "has column fare_amount as text"),
        ("ALTER TABLE {t} DROP COLUMN tip_amount", "lacks the pipeline's column tip_amount"),
    ],
)
def test_a_changed_table_is_one_sentence_whose_advice_works(sinks, files, change, fragment):
    write_rows(files.root, A, good)
    typed = ingest.transform(ingest.load(A))
    ingest.export_postgres(typed, sinks.table)
    with psycopg.connect(postgres.dsn_from_env(), autocommit=True) as conn:
        conn.execute(change.format(t=sinks.table))
    before = pg_snapshot(sinks.table)
    with pytest.raises(TaxiDataError) as error:
        ingest.export_postgres(typed, sinks.table)
    text = one_sentence(error.value)
    assert fragment in text, text
    assert pg_snapshot(sinks.table) == before
    advice = text.split("(", 1)[1].split(")", 1)[0]  # the ALTER TABLE the sentence proposes
    with psycopg.connect(postgres.dsn_from_env(), autocommit=True) as conn:
        conn.execute(advice)
    assert ingest.export_postgres(typed, sinks.table).rows == len(good)


@pytest.mark.twin
def test_a_view_in_place_of_the_table_is_named(sinks, files):
    write_rows(files.root, A, good)
    typed = ingest.transform(ingest.load(A))
    namespace, name = postgres.split_table(sinks.table)
    with psycopg.connect(postgres.dsn_from_env(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
        conn.execute(f'CREATE VIEW "{namespace}"."{name}" AS SELECT 1 AS x')
    with pytest.raises(TaxiDataError) as error:
        ingest.export_postgres(typed, sinks.table)
    assert "is a view, not the pipeline's table" in one_sentence(error.value)


@pytest.mark.twin
@pytest.mark.parametrize("kind", ["VIEW", "MATERIALIZED VIEW"])
def test_an_object_that_depends_on_the_slice_is_named_with_what_to_do(sinks, files, kind):
    """A user's view on a month's partition: dropping the old partition cannot work, and
    re-running cannot help; the sentence names the view and how to keep it working."""
    write_rows(files.root, A, good)
    typed = ingest.transform(ingest.load(A))
    ingest.export_postgres(typed, sinks.table)
    namespace, name = postgres.split_table(sinks.table)
    part = postgres.partition_name(name, A.name)
    view = f"{name}_jan_{kind.split()[0].lower()}"
    with psycopg.connect(postgres.dsn_from_env(), autocommit=True) as conn:
        conn.execute(
            f'CREATE {kind} "{namespace}"."{view}" AS SELECT * FROM "{namespace}"."{part}"'
        )
    before = pg_snapshot(sinks.table)
    with pytest.raises(TaxiDataError) as error:
        ingest.export_postgres(typed, sinks.table)
    text = one_sentence(error.value)
    print(f"\nMESSAGE: {text}")
    assert f"{kind.lower()} {namespace}.{view} depends on" in text, text
    assert "re-run" in text and "the table is unchanged" in text
    assert f"DROP {kind} {namespace}.{view}" in text, text
    assert pg_snapshot(sinks.table) == before
    with psycopg.connect(postgres.dsn_from_env(), autocommit=True) as conn:
        conn.execute(f'DROP {kind} "{namespace}"."{view}"')
    assert ingest.export_postgres(typed, sinks.table).rows == len(good)

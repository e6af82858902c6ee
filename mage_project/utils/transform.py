"""Step 2 (transform): stream a staged ``.csv.gz`` into a typed, filtered parquet staging file.

Record batch by record batch (pyarrow's streaming CSV reader; a few MB at a time): parse the
course types, apply the pipeline's row rule, add ``<prefix>_pickup_date`` and ``source_month``,
rename to snake_case (see ``schema.py``), append to the parquet file. Peak memory is a few
batches whatever the month's size. The output appears under its final name only when complete.

Row rules: ``passenger_count > 0`` (yellow, the course's ``data[data['passenger_count'] > 0]``;
nulls dropped too), plus ``trip_distance > 0`` for green. Pickups outside the source month are
KEPT: the row belongs to the file (slice) it came from. Unknown extra columns are tolerated,
dropped and reported — a logged warning and ``TypedFile.dropped_columns`` (TLC has added columns
over the years); missing required columns are rejected.
"""

from __future__ import annotations

import calendar
import contextlib
import csv
import gzip
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.files import disk_full, disk_full_error
from mage_project.utils.header import check_header, missing_later_columns, read_header
from mage_project.utils.schema import INT_COLUMNS, TripSchema, schema_for, to_snake_case
from mage_project.utils.settings import MAX_LINE_BYTES
from mage_project.utils.typed_file import TypedFile

BLOCK_SIZE = 1 << 20  # CSV bytes per parsed block: a few in flight per core keeps memory flat
log = logging.getLogger(__name__)
RowRule = Callable[[pa.RecordBatch], pa.Array]


def yellow_rule(batch: pa.RecordBatch) -> pa.Array:
    """Course rule: keep ``passenger_count > 0`` (drops 0 and empty)."""
    return pc.fill_null(pc.greater(batch["passenger_count"], 0), False)


def green_rule(batch: pa.RecordBatch) -> pa.Array:
    """Homework rule: keep ``passenger_count > 0`` and ``trip_distance > 0``."""
    keep = pc.and_(pc.greater(batch["passenger_count"], 0), pc.greater(batch["trip_distance"], 0))
    return pc.fill_null(keep, False)


RULES: dict[str, RowRule] = {"yellow": yellow_rule, "green": green_rule}
RULE_TEXT = {"yellow": "passenger_count > 0", "green": "passenger_count > 0 and trip_distance > 0"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_WHOLE_DECIMAL = re.compile(r"^([+-]?\d+)\.0*$")


def _batches(
    path: Path, schema: TripSchema, name: str, header: list[str], nulls: bool = False
) -> Iterator[pa.RecordBatch]:
    """``nulls``: a column the header lacks is read as NULL (a file older than the column)."""
    convert = pacsv.ConvertOptions(
        column_types={c: schema.read_type(c) for c in schema.columns},
        include_columns=list(schema.columns),
        include_missing_columns=nulls,
        strings_can_be_null=True,
        # ISO 8601 only: it checks the calendar (strptime's "%Y-%m-%d %H:%M:%S" rolls a
        # 2021-02-29 or a 23:59:60 silently into the next day), so a date that does not exist
        # is a conversion error, which _bad_value_error turns into a sentence with its line.
        timestamp_parsers=[pacsv.ISO8601],
    )
    stream = pa.input_stream(str(path), compression="gzip")
    try:
        # the cleaned header (stray spaces stripped, see read_header) names the columns
        options = pacsv.ReadOptions(block_size=BLOCK_SIZE, column_names=header, skip_rows=1)
        reader = pacsv.open_csv(stream, read_options=options, convert_options=convert)
        yield from reader
    finally:
        stream.close()


def _typed(
    batch: pa.RecordBatch, schema: TripSchema, name: str, month: str, path: Path
) -> pa.RecordBatch:
    arrays, names = [], []
    for column in schema.columns:
        values = batch[column]
        if column in INT_COLUMNS:
            try:
                values = to_int64(values)
            except ValueError:
                raise _bad_value_error(path, name, column, "int64") from None
        arrays.append(values)
        names.append(to_snake_case(column))
    pickup = batch[schema.pickup_column]
    arrays.append(pc.cast(pickup, pa.date32()))
    names.append(schema.pickup_date_column)
    arrays.append(pa.repeat(pa.scalar(month, pa.string()), batch.num_rows))
    names.append("source_month")
    return pa.RecordBatch.from_arrays(arrays, names=names)


def whole_number(text: str) -> int:
    """The exact integer ``text`` spells (``"3"``, ``"3.0"``, ``"3e2"``), or ValueError saying why
    not: not a number, not whole, or beyond 64-bit. Never goes through a float."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError("not a whole number")
    value = int(number)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("beyond 64-bit")
    return value


def to_int64(values: pa.Array) -> pa.Array:
    """Text of an integer column → int64, exactly (ValueError if a value is not one)."""
    with contextlib.suppress(pa.ArrowInvalid):  # the common case: plain digits, no spaces
        return pc.cast(values, pa.int64())
    values = pc.utf8_trim_whitespace(values)
    with contextlib.suppress(pa.ArrowInvalid):
        return pc.cast(values, pa.int64())
    plain = pc.replace_substring_regex(values, pattern=_WHOLE_DECIMAL.pattern, replacement=r"\1")
    with contextlib.suppress(pa.ArrowInvalid):
        return pc.cast(plain, pa.int64())
    return pa.array(
        [None if v is None else whole_number(v) for v in values.to_pylist()], pa.int64()
    )


_CONVERSION = re.compile(
    r"In CSV column #(\d+): CSV conversion error to ([^:]+): invalid value '(.*)'"
)
_FIELDS = re.compile(r"Expected (\d+) columns, got (\d+)")


def _check_value(kind: str) -> Callable[[str], bool]:
    """Whether a text value parses as ``kind``: a timestamp, an int64, else a float."""
    parse: Callable[[str], object]
    if kind.startswith("timestamp"):
        parse = datetime.fromisoformat
    elif kind == "int64":
        parse = whole_number
    else:
        parse = float

    def ok(text: str) -> bool:
        try:
            parse(text)
            return True
        except ValueError:
            return False

    return ok


def _lines(path: Path, name: str) -> Iterator[str]:
    """The file's lines decoded, each read with a bounded buffer: a line longer than
    ``MAX_LINE_BYTES`` or with bytes that are not UTF-8 is one sentence naming it."""
    with gzip.open(path, "rb") as handle:
        number = 0
        while line := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES:
                raise TaxiDataError(
                    f"{name}, line {number}: the line is longer than {MAX_LINE_BYTES >> 20} MiB, which no taxi row is; the file is damaged, replace it with the original and re-run."
                )
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TaxiDataError(
                    f"{name}, line {number}: bytes that are not UTF-8 ({line[error.start : error.start + 1]!r} at byte {error.start + 1} of the line); save the file as UTF-8 (or fix that row) and re-run."
                ) from None


def rows(path: Path, name: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of every data row; blank lines are skipped but counted (the
    number is the row's first physical line, header = line 1)."""
    reader = csv.reader(_lines(path, name))
    try:
        next(reader, None)
        start = reader.line_num + 1
        for row in reader:
            if row:
                yield start, row
            start = reader.line_num + 1
    except csv.Error as error:
        raise TaxiDataError(
            f"{name}, line {reader.line_num}: {error}; fix or remove that row and re-run."
        ) from None


def locate(
    path: Path, predicate: Callable[[list[str], int], bool], name: str | None = None
) -> tuple[int, list[str]] | None:
    """The first data row (its line, 1-based, header is line 1) whose fields fail ``predicate``."""
    for line, row in rows(path, name or path.name):
        if not predicate(row, line):
            return line, row
    return None


_DATE_TIME = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?"
)


def not_on_calendar(text: str) -> str | None:
    """Why a ``YYYY-MM-DD[ HH:MM[:SS]]`` text names no real moment (``"2021 has no 29
    February"``), or None when it does or is not shaped like a date at all."""
    match = _DATE_TIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(v) if v else 0 for v in match.groups())
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    days = calendar.monthrange(year, month)[1] if year >= 1 else 31
    if not 1 <= day <= days:
        return f"{calendar.month_name[month]} {year} has {days} days"
    if hour > 23 or minute > 59 or second > 59:
        return f"{hour:02d}:{minute:02d}:{second:02d} is not a time of day"
    return None


def _bad_value_error(path: Path, name: str, column: str, kind: str) -> TaxiDataError:
    index = read_header(path, name).index(column)
    ok = _check_value(kind)
    found = locate(
        path, lambda row, _: index >= len(row) or row[index].strip() == "" or ok(row[index]), name
    )
    what = "a timestamp (YYYY-MM-DD HH:MM:SS)" if kind.startswith("timestamp") else (
        "a whole number" if kind == "int64" else "a number")  # fmt: skip
    if found is None:
        return TaxiDataError(
            f"{name}, column {column}: a value is not {what}; fix the file and re-run."
        )
    line, row = found
    value = row[index]
    shown = repr(value) if len(value) <= 40 else repr(value[:40]) + "…"
    if kind == "int64":
        try:
            whole_number(value)
        except ValueError as why:
            if str(why) == "beyond 64-bit":
                return TaxiDataError(
                    f"{name}, line {line}, column {column}: {shown} is beyond the 64-bit integer range, so it cannot be stored exactly; fix or remove that row and re-run."
                )
            if str(why) == "not a number":
                what = "a number"
    if kind.startswith("timestamp") and (reason := not_on_calendar(value)):
        return TaxiDataError(
            f"{name}, line {line}, column {column}: {shown} is not a moment that exists ({reason}), so it is refused rather than moved to another date; fix or remove that row and re-run."
        )
    return TaxiDataError(
        f"{name}, line {line}, column {column}: {shown} is not {what}; fix or remove that row and re-run."
    )


def _explain(error: Exception, path: Path, name: str, schema: TripSchema) -> TaxiDataError:
    text = str(error)
    if "UTF8" in text or "UTF-8" in text or "straddl" in text:
        # not UTF-8, or a row longer than a parse block: the line scan names the line
        for _ in rows(path, name):
            pass
        if "straddl" in text:
            return TaxiDataError(
                f"{name} has a row longer than {BLOCK_SIZE >> 20} MiB, which no taxi row is; the file is damaged, replace it with the original and re-run."
            )
        return TaxiDataError(
            f"{name} has bytes that are not UTF-8; save the file as UTF-8 and re-run."
        )
    if (
        isinstance(error, OSError)
        and not isinstance(error, pa.ArrowInvalid)
        or "ompressed" in text
        or "gzip" in text.lower()
    ):
        return TaxiDataError(
            f"{name} is a truncated or corrupt gzip file ({text}); download it again and re-run."
        )
    match = _CONVERSION.search(text)
    if match:
        column = read_header(path, name)[int(match[1])]
        return _bad_value_error(path, name, column, match[2].strip())
    fields = _FIELDS.search(text)
    if fields:
        expected = int(fields[1])
        found = locate(path, lambda row, _: len(row) == expected, name)
        where = f", line {found[0]}" if found else ""
        return TaxiDataError(
            f"{name}{where}: the row has {fields[2]} fields but the header has {expected}; fix or remove that row and re-run."
        )
    if "Empty CSV file" in text:
        return TaxiDataError(
            f"{name} has no header line (empty CSV); replace it with the original file and re-run."
        )
    return TaxiDataError(f"{name} could not be parsed as CSV ({text}); fix the file and re-run.")


class _BackgroundWriter:
    """A parquet writer fed through a small queue and run by a helper thread, so encoding the
    typed file (pyarrow, GIL released) overlaps parsing the next CSV blocks."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema, compression="snappy")
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="typed-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write_batch(batch)
                except BaseException as error:  # raised in the caller by write()/close()
                    self._error = error

    def write(self, batch: pa.RecordBatch) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(batch)

    def close(self) -> None:
        """Finish writing (raising a writer error); safe to call twice."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
            self._writer.close()
        if self._error is not None:
            raise self._error


def empty_slice_error(name: str, color: str, rows_read: int, day: date | None) -> TaxiDataError:
    """The one policy for a slice whose rows are ALL filtered out, in every pipeline: refuse it
    (nothing is written, every sink keeps the slice as it was); see docs/run-guarantees.md."""
    where = f" picked up on {day.isoformat()}" if day else ""
    return TaxiDataError(
        f"{name}: none of its {rows_read:,} rows{where} passes the {color} rule ({RULE_TEXT[color]}), so the slice is refused and every sink keeps it as it was; check that the file is the right one."
    )


def _no_pickup_error(path: Path, name: str, schema: TripSchema) -> TaxiDataError:
    header = read_header(path, name)
    pickup, passengers = header.index(schema.pickup_column), header.index("passenger_count")

    def fine(row: list[str], _: int) -> bool:
        if max(pickup, passengers) >= len(row) or row[pickup].strip():
            return True
        try:
            return float(row[passengers]) <= 0
        except ValueError:
            return True

    found = locate(path, fine, name)
    where = f", line {found[0]}" if found else ""
    return TaxiDataError(
        f"{name}{where}: a trip the rule keeps has no {schema.pickup_column}, so it could not be placed in any pickup-date partition; fix or remove that row and re-run."
    )


class TypedStream:
    """The typed, filtered batches of a staged ``.csv.gz`` (see the module docstring), counted
    as they pass: what the parquet staging writes and what a sink that needs no file (Postgres'
    COPY) reads directly. The header is checked on construction; ``batches()`` raises every
    data error of the file (with its line and column) as it meets it, and at the end refuses a
    file with no rows or with none the rule keeps."""

    def __init__(
        self, source: Path, color: str, month: str, name: str | None = None,
        day: date | None = None,
    ) -> None:  # fmt: skip
        self.source, self.color, self.month, self.day = source, color, month, day
        self.schema = schema_for(color)
        self.name = name or source.name
        self.header = read_header(source, self.name)
        self.dropped = check_header(self.header, color, self.name, month)
        self.as_null = missing_later_columns(self.header, month)
        self.rows_read = self.rows_kept = 0
        self.dates: set[date] = set()

    def warn(self) -> None:
        """Log the header's tolerated differences (older file, unknown extra columns)."""
        name, as_null, dropped = self.name, self.as_null, self.dropped
        if as_null:
            log.warning(
                "%s: column%s %s not in this file (TLC added %s later), loaded as NULL.",
                name, "s" if len(as_null) > 1 else "", ", ".join(as_null),
                "them" if len(as_null) > 1 else "it",
            )  # fmt: skip
        if dropped:
            log.warning(
                "%s: unknown column%s %s dropped (not part of the %s schema, not loaded into any sink).",
                name, "s" if len(dropped) > 1 else "", ", ".join(dropped), self.color,
            )  # fmt: skip

    def _kept(self) -> Iterator[pa.RecordBatch]:
        schema, rule, day = self.schema, RULES[self.color], self.day
        for batch in _batches(self.source, schema, self.name, self.header, bool(self.as_null)):
            self.rows_read += batch.num_rows
            typed = _typed(batch, schema, self.name, self.month, self.source)
            keep = rule(typed)
            if day is not None:
                on_day = pc.equal(typed[schema.pickup_date_column], pa.scalar(day, pa.date32()))
                keep = pc.and_(keep, pc.fill_null(on_day, False))
            kept = typed.filter(keep)
            if kept[schema.pickup_date_column].null_count:
                raise _no_pickup_error(self.source, self.name, schema)
            if kept.num_rows:
                self.rows_kept += kept.num_rows
                self.dates.update(pc.unique(kept[schema.pickup_date_column]).to_pylist())
                yield kept

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The kept rows, batch by batch (never an empty batch); see the class docstring."""
        try:
            yield from self._kept()
        except TaxiDataError:
            raise
        except (pa.ArrowException, OSError, EOFError) as error:
            raise _explain(error, self.source, self.name, self.schema) from None
        if self.rows_read == 0:
            raise TaxiDataError(
                f"{self.name} has a header but no rows; the source file is incomplete, re-publish it and re-run."
            )
        if self.rows_kept == 0:
            raise empty_slice_error(self.name, self.color, self.rows_read, self.day)

    def head(self, rows: int) -> pa.Table:
        """The first ``rows`` kept rows, typed (reads only the blocks needed: a preview)."""
        taken: list[pa.RecordBatch] = []
        count = 0
        stream = self.batches()
        try:
            for batch in stream:
                taken.append(batch.slice(0, rows - count))
                count += taken[-1].num_rows
                if count >= rows:
                    break
        finally:
            stream.close()
        return pa.Table.from_batches(taken, schema=self.schema.sink_schema)

    def described(self, path: str) -> TypedFile:
        """What the transform hands on once the stream was read through (``path``: its file)."""
        return TypedFile(
            path=path, color=self.color, slice=self.month, source_name=self.name,
            rows_read=self.rows_read, rows_kept=self.rows_kept,
            columns=self.schema.sink_schema.names, renamed=self.schema.renames,
            pickup_dates=sorted(d.isoformat() for d in self.dates if d is not None),
            dropped_columns=self.dropped, null_columns=self.as_null,
        )  # fmt: skip


def stage_typed(
    source: Path,
    color: str,
    month: str,
    out: Path,
    name: str | None = None,
    day: date | None = None,
) -> TypedFile:
    """Stream ``source`` into the typed, filtered parquet file ``out``; see the module docstring.

    ``day`` keeps only pickups on that date (the parameterized pipeline's slice).
    """
    stream = TypedStream(source, color, month, name, day)
    stream.warn()
    part = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer: _BackgroundWriter | None = None
    try:
        try:
            for kept in stream.batches():
                if writer is None:
                    writer = _BackgroundWriter(part, kept.schema)
                writer.write(kept)
            assert writer is not None  # batches() refuses a slice with no kept rows
            writer.close()
        except (OSError, pa.ArrowException) as error:
            if disk_full(error):
                raise disk_full_error(part) from None
            raise
        writer = None
        part.replace(out)
    finally:
        if writer is not None:  # an error is on its way out already: do not mask it
            with contextlib.suppress(BaseException):
                writer.close()
        part.unlink(missing_ok=True)
    return stream.described(str(out))

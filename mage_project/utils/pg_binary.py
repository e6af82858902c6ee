"""Arrow record batches → PostgreSQL's binary ``COPY`` format, column by column with numpy.

The format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"): a header,
then per row a 16-bit field count and per field a 32-bit length (-1: NULL) and the value in
network byte order (``bigint``, ``double precision``; ``timestamp`` as microseconds and ``date``
as days since 2000-01-01; ``text`` as its UTF-8 bytes), then a 16-bit -1 trailer.

Rows whose fields have the same lengths (the same NULLs, strings of the same length) have the
same layout, so each such group is one numpy structured array filled a column at a time; a
month's rows fall in a handful of groups. Row order within a batch is not kept (a table has
none). This is ~3x less CPU than a row-by-row encoder (ADBC's), the cost that had the client,
not the server, set the pace of the load (docs/performance.md).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01
_EPOCH_DAYS = 10_957  # 2000-01-01 in days since 1970-01-01


def _fixed(column: pa.Array) -> tuple[str, np.ndarray]:
    """(numpy big-endian type, values with NULLs as 0) of a fixed-width column."""
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz is None:
        return ">i8", pc.cast(column, pa.int64()).fill_null(0).to_numpy() - _EPOCH_US
    if pa.types.is_date32(kind):
        return ">i4", pc.cast(column, pa.int32()).fill_null(0).to_numpy() - _EPOCH_DAYS
    if pa.types.is_int64(kind):
        return ">i8", column.fill_null(0).to_numpy()
    if pa.types.is_float64(kind):
        return ">f8", column.fill_null(0).to_numpy()
    raise TypeError(f"no binary COPY encoding for Arrow type {kind}")


class _Column:
    """One column of a batch, ready to be written into rows of any layout."""

    def __init__(self, column: pa.Array) -> None:
        self.valid = (
            None if column.null_count == 0 else column.is_valid().to_numpy(zero_copy_only=False)
        )
        self.text = pa.types.is_string(column.type)
        if self.text:
            offsets = column.buffers()[1]
            self.offsets = np.frombuffer(offsets, np.int32, len(column) + 1, column.offset * 4)
            self.lengths = np.diff(self.offsets).astype(np.int64)
            if self.valid is not None:
                self.lengths = np.where(self.valid, self.lengths, -1)
            data = column.buffers()[2]
            self.data = np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8)
        else:
            self.kind, self.values = _fixed(column)
            self.width = np.dtype(self.kind).itemsize
            self.lengths = None if self.valid is None else np.where(self.valid, self.width, -1)

    def code(self) -> np.ndarray | None:
        """Per row, a small code of the field's length (None: the same in every row)."""
        if self.lengths is None:
            return None
        distinct, codes = np.unique(self.lengths, return_inverse=True)
        return None if len(distinct) == 1 else codes

    def length(self, row: int) -> int:
        return self.width if self.lengths is None else int(self.lengths[row])

    def value_type(self, length: int) -> str | None:
        if length <= 0:
            return None
        return f"S{length}" if self.text else self.kind

    def values_of(self, rows: np.ndarray, length: int) -> np.ndarray:
        if not self.text:
            return self.values[rows]
        starts = self.offsets[rows].astype(np.int64)
        return self.data[starts[:, None] + np.arange(length)].view(f"S{length}").ravel()


def _groups(columns: list[_Column], rows: int) -> list[np.ndarray]:
    """The batch's rows grouped by layout (the length of every field)."""
    key = np.zeros(rows, np.int64)
    for column in columns:
        code = column.code()
        if code is not None:  # combine, then renumber so the key stays small
            key = np.unique(key * (int(code.max()) + 1) + code, return_inverse=True)[1]
    if not key.any():
        return [np.arange(rows)]
    order = np.argsort(key, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(key[order])) + 1)


def encode(batch: pa.RecordBatch) -> bytes:
    """The rows of ``batch`` as binary COPY tuples (no header, no trailer)."""
    if batch.num_rows == 0:
        return b""
    columns = [_Column(column) for column in batch.columns]
    parts = []
    for rows in _groups(columns, batch.num_rows):
        first = int(rows[0])
        lengths = [column.length(first) for column in columns]
        fields: list[tuple[str, str]] = [("count", ">i2")]
        for i, (column, length) in enumerate(zip(columns, lengths, strict=True)):
            fields.append((f"length{i}", ">i4"))
            if (kind := column.value_type(length)) is not None:
                fields.append((f"value{i}", kind))
        out = np.empty(len(rows), np.dtype(fields))
        out["count"] = len(columns)
        for i, (column, length) in enumerate(zip(columns, lengths, strict=True)):
            out[f"length{i}"] = length
            if length > 0:
                out[f"value{i}"] = column.values_of(rows, length)
        parts.append(out.tobytes())
    return b"".join(parts)

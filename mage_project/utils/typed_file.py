"""The typed staging file the transform writes and every sink reads: its description
(:class:`TypedFile`, handed from block to block as a dict) and its reader."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class TypedFile:
    """What the transform step hands to the exporters."""

    path: str
    color: str
    slice: str
    source_name: str
    rows_read: int
    rows_kept: int
    columns: list[str]
    renamed: dict[str, str]
    pickup_dates: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    null_columns: list[str] = field(default_factory=list)  # absent from an older file: NULL

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TypedPlan:
    """What the transform hands to a sink that needs no typed file (Postgres' COPY): the staged
    ``.csv.gz`` and the slice. The sink types and filters the rows as they stream in (the same
    code as the typed file's, see transform.TypedStream), so no typed parquet is written and
    read back; the rows read and kept are counted by the export."""

    source_path: str
    color: str
    slice: str
    source_name: str
    columns: list[str]
    dropped_columns: list[str] = field(default_factory=list)
    null_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def iter_typed(path: Path, batch_size: int = 131_072) -> Iterator[pa.RecordBatch]:
    """Stream a typed parquet staging file back, batch by batch."""
    with pq.ParquetFile(path) as parquet:
        yield from parquet.iter_batches(batch_size=batch_size)

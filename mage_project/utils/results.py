"""What a sink export reports (Postgres, GCS and BigQuery alike)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class LoadResult:
    """What a sink export reports."""

    sink: str
    slice: str
    rows: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)

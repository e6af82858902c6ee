"""What a sink export reports (Postgres, GCS and BigQuery alike)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mage_project.utils.errors import TaxiDataError


@dataclass
class LoadResult:
    """What a sink export reports."""

    sink: str
    slice: str
    rows: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


class RowCountMismatch(TaxiDataError):
    """A sink holds a different number of rows than the transform kept (nothing committed)."""

    def __init__(
        self,
        sink: str,
        slice_id: str,
        landed: int,
        expected: int,
        source: str = "the transform kept",
    ) -> None:
        super().__init__(
            f"{sink} received {landed:,} rows of slice {slice_id} but {source} {expected:,}, so the slice was not replaced (the sink is unchanged); re-run the whole pipeline, and report it if it happens again."
        )

"""Helpers for the pure-function tests: tiny TLC-shaped .csv.gz files written on the fly."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from mage_project.utils.schema import schema_for


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """``write_csv(color, rows, header=None, name=None)`` → a gzip CSV in the release naming."""

    def write(
        color: str,
        rows: list[dict[str, str]],
        header: list[str] | None = None,
        name: str | None = None,
    ) -> Path:
        header = header or list(schema_for(color).columns)
        path = tmp_path / (name or f"{color}_tripdata_2021-01.csv.gz")
        lines = [",".join(header)] + [",".join(r.get(c, "") for c in header) for r in rows]
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        return path

    return write

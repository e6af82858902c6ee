"""The sample taxi months the twin serves: how many rows, and generating them."""

from __future__ import annotations

import os
from pathlib import Path

from twin.errors import TwinError


def sample_rows() -> int | str | None:
    """Rows per generated sample month: ``TWIN_SAMPLE_ROWS`` (a number, or ``full`` for the
    real files' sizes, e.g. 1,369,765 for yellow 2021-01); default: the small demo size."""
    raw = os.environ.get("TWIN_SAMPLE_ROWS", "").strip().lower()
    if not raw:
        return None
    if raw == "full":
        return "full"
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    raise TwinError(
        f"TWIN_SAMPLE_ROWS={raw!r} is not a row count; set a positive number or `full`, "
        "e.g. make up ROWS=full."
    )


def generate_sample_data(
    out_dir: Path,
    months: list[tuple[str, int, int]] | None = None,
    rows: int | str | None = None,
) -> list[Path]:
    """Fill ``out_dir`` with sample months (default: the demo's; idempotent) via
    twin/sample_data.py; ``rows``: per month, or ``"full"`` for real sizes."""
    from twin import sample_data as module  # numpy and pyarrow: imported when first needed

    out_dir.mkdir(parents=True, exist_ok=True)
    size = {"full": True} if rows == "full" else {"rows": rows}
    if months is None:
        return module.generate(out_dir, **size)
    return module.generate(out_dir, months=months, **size)

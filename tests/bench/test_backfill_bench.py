"""The backfill benchmark's paper projection (scripts/benchmarks/backfill_bench.py): old design's BigQuery
bytes grow with the square of the months, the new design's are zero; time divides by parallelism."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.backfill_bench import projection

ROOT = Path(__file__).resolve().parents[2]


def test_projection_old_design_is_quadratic_and_new_is_free():
    month = 200e6  # bytes of one month in BigQuery's data sizes
    _, old, new = projection(task_seconds=60, month_bytes=month, parallelism=4)
    # sum_{k=1..120} k * 200 MB = 7260 * 200 MB = 1.452 TB, at $6.25/TiB
    assert "1.45 TB processed = $8.25" in old
    assert "120 sequential runs  -> 2.0 h" in old
    assert "30 rounds = 0.50 h" in new and "0 bytes processed = $0" in new
    compute = re.findall(r"compute \$([\d.]+)", old + new)
    assert compute[0] == compute[1], "the same task-seconds cost the same"

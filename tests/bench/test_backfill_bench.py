"""The backfill benchmark's paper projection (scripts/benchmarks/backfill_bench.py): old design's BigQuery
bytes grow with the square of the months, the new design's are zero; time divides by parallelism."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from benchmarks.backfill_bench import projection

from mage_project.utils.image_contract import REPO_ROOT as ROOT


def test_projection_old_design_is_quadratic_and_new_is_free():
    month = 200e6  # bytes of one month in BigQuery's data sizes
    _, old, new = projection(task_seconds=60, month_bytes=month, parallelism=4)
    # sum_{k=1..120} k * 200 MB = 7260 * 200 MB = 1.452 TB, at $6.25/TiB
    assert "1.45 TB processed = $8.25" in old
    assert "120 sequential runs  -> 2.0 h" in old
    assert "30 rounds = 0.50 h" in new and "0 bytes processed = $0" in new
    compute = re.findall(r"compute \$([\d.]+)", old + new)
    assert compute[0] == compute[1], "the same task-seconds cost the same"


@pytest.mark.twin
def test_the_backfill_bench_runs_end_to_end(tmp_path):
    """`make bench`'s second half, small: two 2,000-row months at parallelism 1 and 2 on a twin of
    its own, the BigQuery replaces and the projection, written to --out."""
    out = tmp_path / "backfill.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.backfill_bench", "--months", "2", "--rows", "2000",
         "--parallelism", "1,2", "--work", str(tmp_path / "work"), "--out", str(out)],
        cwd=ROOT / "scripts", capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = out.read_text()
    for parallelism in (1, 2):
        assert re.search(rf"=> parallelism {parallelism}: backfill \d+\.\d s", report), report
    assert "speed-up parallelism 2:" in report and "jobs per replace: ['load']" in report, report

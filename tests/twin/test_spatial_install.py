"""The BigQuery emulator's DuckDB spatial extension installs safely when several emulators start
at once on a HOME that does not have it yet (the workers of `make test`'s root session)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from twin.executables import emulator_python
from twin.layout import REPO_ROOT

INSTALL = (
    "import sys; sys.path.insert(0, 'scripts'); "
    "from twin.bq_launcher import install_spatial_extension; print(install_spatial_extension())"
)


def test_emulators_starting_together_on_a_fresh_home_all_load_spatial(tmp_path: Path):
    for round_ in range(3):  # the race is narrow: three rounds of six at once
        home = tmp_path / f"home{round_}"
        home.mkdir()
        env = {**os.environ, "HOME": str(home)}
        starts = [
            subprocess.Popen(
                [str(emulator_python()), "-c", INSTALL],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
            for _ in range(6)
        ]
        outputs = [(p.wait(120), p.stdout.read()) for p in starts]
        for code, output in outputs:
            assert code == 0, output
            # the last line is the path (DuckDB may draw a progress bar above it)
            assert output.strip().splitlines()[-1].startswith(str(home / ".duckdb")), output

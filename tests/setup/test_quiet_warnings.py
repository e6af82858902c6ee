"""The known library notices (google-auth's grpcio PQC notice, google-api-core's Python
end-of-life notices: FutureWarnings on every GCS/BigQuery import) are filtered by the
PYTHONWARNINGS the twin gives Mage (twin.layout.QUIET_WARNINGS); any other warning still shows.
The UI test (tests/ui/test_notebook_runs.py) checks no FutureWarning reaches a block's output."""

from __future__ import annotations

import os
import subprocess
import sys

from twin.layout import QUIET_WARNINGS

IMPORTS = "import google.cloud.storage, google.cloud.bigquery, grpc, warnings; warnings.warn('unrelated', FutureWarning)"


def stderr_of(warnings_setting: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    if warnings_setting is not None:
        env["PYTHONWARNINGS"] = warnings_setting
    run = subprocess.run(
        [sys.executable, "-c", IMPORTS], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return run.stderr


def test_the_known_notices_show_without_the_filter():
    noisy = stderr_of(None)
    assert "grpcio < 1.83.0 does not support Post-Quantum Cryptography" in noisy
    assert "You are using a Python version" in noisy


def test_the_filter_hides_exactly_the_known_notices():
    quiet = stderr_of(QUIET_WARNINGS)
    assert "grpcio" not in quiet and "You are using a Python version" not in quiet
    assert "FutureWarning: unrelated" in quiet

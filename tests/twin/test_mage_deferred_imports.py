"""Mage's server starts without importing what it only calls later (scripts/mage_runner/mage_site/
sitecustomize.py, ``_DEFERRED``): scikit-learn and memory_profiler (and its IPython) are imported on first call of the function Mage took from them, and those functions still work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mage_runner.site import MAGE_SITE

DEFERRED_TOPS = ("sklearn", "memory_profiler", "IPython")

PROBE = """
import json, sys
import mage_ai.server.server
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))
from mage_ai.data_preparation.models import utils
from mage_ai.data_preparation.models.block import outputs
from mage_ai.system.memory.utils import memory_usage
from sklearn.linear_model import LinearRegression
from mage_project.utils.image_contract import REPO_ROOT as ROOT
html = utils.estimator_html_repr(LinearRegression())
assert outputs.estimator_html_repr is not None
usage = memory_usage(-1, interval=0.01, timeout=0.05)
print(json.dumps({"at_start": loaded, "html": "LinearRegression" in html, "usage": len(usage) > 0}))
"""


def run_probe(tmp_path: Path, pythonpath: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE, ",".join(DEFERRED_TOPS)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mage_server_starts_without_the_deferred_libraries_and_they_still_work(tmp_path):
    result = run_probe(tmp_path, str(MAGE_SITE))
    assert result == {"at_start": [], "html": True, "usage": True}


def test_without_the_site_mage_imports_them_at_start(tmp_path):
    """The control: the same probe without mage_site shows what the patch removes."""
    result = run_probe(tmp_path, None)
    assert {"sklearn", "memory_profiler"} <= set(result["at_start"]), result

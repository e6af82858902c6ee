"""Fixtures of the hostile-input tests: the sink fixtures of tests/sinks (the twin's endpoints in
the environment, fresh sink names, a local file server), plus the hostile peers of kit.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_spec = importlib.util.spec_from_file_location(
    "sinks_fixtures", HERE.parent / "sinks" / "conftest.py"
)
_sinks = importlib.util.module_from_spec(_spec)
sys.modules["sinks_fixtures"] = _sinks
_spec.loader.exec_module(_sinks)  # type: ignore[union-attr]

sinks = _sinks.sinks
files = _sinks.files

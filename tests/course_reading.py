"""How the course reads a taxi month: ``pd.read_csv`` with its dtype map (DataTalksClub module 2),
extended to green's extra columns. Tests compare the project's results with this reading."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from mage_project.utils.image_contract import REPO_ROOT

#: The course's own loader, kept as the course wrote it (the benchmark runs it).
COURSE_LOADER = (
    REPO_ROOT / "scripts" / "benchmarks" / "course_project" / "data_loaders" / "load_api_data.py"
)


def _course_dtypes() -> dict:
    """The ``taxi_dtypes`` map of :data:`COURSE_LOADER` (a literal of pandas dtypes)."""
    tree = ast.parse(COURSE_LOADER.read_text())
    value = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "taxi_dtypes" for t in node.targets)
    )
    return eval(compile(ast.Expression(value), str(COURSE_LOADER), "eval"), {"pd": pd})


COURSE_DTYPES = _course_dtypes()
GREEN_DTYPES = {**COURSE_DTYPES, "ehail_fee": float, "trip_type": pd.Int64Dtype()}


def course_frame(path: Path, color: str) -> pd.DataFrame:
    """The month as the course reads it (timestamps parsed)."""
    prefix = "tpep" if color == "yellow" else "lpep"
    return pd.read_csv(
        path,
        compression="gzip",
        dtype=COURSE_DTYPES if color == "yellow" else GREEN_DTYPES,
        parse_dates=[f"{prefix}_pickup_datetime", f"{prefix}_dropoff_datetime"],
    )

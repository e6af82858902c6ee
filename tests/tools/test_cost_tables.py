"""`make cost` prints the same text for the same plan: the per-run table is ordered by pipeline,
not by the order the program happened to register the jobs in."""

from __future__ import annotations

import io

from rich.console import Console
from tools.cost import runs_table
from tools.cost_model import Estimate, RunCost


def rendered(runs: list[RunCost]) -> str:
    out = io.StringIO()
    Console(file=out, width=200).print(runs_table(Estimate(as_of="test", idle=[], runs=runs)))
    return out.getvalue()


def test_runs_table_does_not_depend_on_registration_order():
    runs = [RunCost("green_taxi_etl", [], 30.42, "0 5 * * *"), RunCost("backfill", [], 0.0)]
    text = rendered(runs)
    assert text == rendered(runs[::-1])
    assert text.index("backfill") < text.index("green_taxi_etl")

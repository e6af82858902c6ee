"""`make backfill` refuses (or, at a terminal, asks) when its dates expand to more runs than
they suggest: month-form dates on the per-day pipeline, or many runs; CONFIRM=yes goes ahead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from twin.backfill import confirmed, make_plan, refusal

from mage_project.utils.image_contract import REPO_ROOT as ROOT


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin.backfill", "--state-dir", str(tmp_path),
         *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "400"},
    )  # fmt: skip


def test_month_form_on_the_daily_pipeline_is_refused_with_one_sentence(tmp_path: Path):
    done = cli(tmp_path, "--pipeline", "api_to_gcs_parameterized", "--start", "2021-01",
               "--end", "2021-02")  # fmt: skip
    assert done.returncode == 2
    assert " ".join(done.stdout.split()) == (
        "error: Nothing was run: START=2021-01 END=2021-02 are months but "
        "api_to_gcs_parameterized runs per day, so this is 59 runs; give days (e.g. "
        "START=2021-01-01 END=2021-01-07) or confirm with CONFIRM=yes (or --yes)."
    )
    assert not list(tmp_path.iterdir()), "no twin was started"


@pytest.mark.parametrize(
    ("pipeline", "start", "end", "runs", "asks"),
    [
        ("api_to_gcs_parameterized", "2021-01", "2021-02", 59, True),
        ("api_to_gcs_parameterized", "2021-01", "2021-01", 31, True),  # a whole month of days
        ("api_to_gcs_parameterized", "2021-01-01", "2021-01-07", 7, False),
        ("api_to_gcs_parameterized", "2021-01-01", "2021-01-31", 31, False),  # days, as asked
        ("api_to_gcs_parameterized", "2021-01-01", "2021-03-31", 90, True),
        ("green_taxi_etl", "2020-10", "2020-12", 3, False),
        ("green_taxi_etl", "2020-10-01", "2020-12-01", 3, False),
        ("api_to_postgres", "2019-01", "2021-12", 36, True),
    ],
)
def test_which_backfills_ask_first(pipeline, start, end, runs, asks):
    plan = make_plan(pipeline, start, end, None)
    assert len(plan.dates) == runs
    assert (plan.surprise is not None) == asks


def test_confirm_flag_and_terminal_answers(monkeypatch: pytest.MonkeyPatch):
    plan = make_plan("api_to_gcs_parameterized", "2021-01", "2021-02", None)
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    assert confirmed(plan, yes=True, console=console)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert not confirmed(plan, yes=False, console=console)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    asked = []
    monkeypatch.setattr(console, "input", lambda prompt: asked.append(prompt) or "y")
    assert confirmed(plan, yes=False, console=console)
    assert asked == [
        "START=2021-01 END=2021-02 are months but api_to_gcs_parameterized runs per day, so "
        "this is 59 runs. Run them? [y/N] "
    ]
    monkeypatch.setattr(console, "input", lambda prompt: "")
    assert not confirmed(plan, yes=False, console=console)
    assert "confirm with CONFIRM=yes" in refusal(plan)


def test_make_passes_confirm_yes_only():
    def recipe(*extra: str) -> str:
        args = ["make", "-n", "backfill", "PIPELINE=green_taxi_etl", "START=2020-10", "END=2020-12"]
        done = subprocess.run([*args, *extra], cwd=ROOT, capture_output=True, text=True, timeout=60)
        return next(line for line in done.stdout.splitlines() if "twin.backfill" in line)

    assert recipe("CONFIRM=yes").endswith(" --yes")
    assert not recipe().endswith(" --yes")
    assert not recipe("CONFIRM=no").endswith(" --yes")

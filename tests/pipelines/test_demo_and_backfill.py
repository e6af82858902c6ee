"""`make demo` and `make backfill` (python -m twin.demo, python -m twin.backfill) on the session twin."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest
from twin.backfill import BackfillError, execution_dates, make_plan

from mage_project.utils.image_contract import REPO_ROOT


def script(name: str, *args: str, state_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"twin.{name}", *args, "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
    )  # fmt: skip


def test_month_and_day_steps():
    assert execution_dates(date(2020, 11, 15), date(2021, 2, 1), "month") == [
        date(2020, 11, 1), date(2020, 12, 1), date(2021, 1, 1), date(2021, 2, 1),
    ]  # fmt: skip
    assert execution_dates(date(2021, 2, 27), date(2021, 3, 2), "day") == [
        date(2021, 2, 27), date(2021, 2, 28), date(2021, 3, 1), date(2021, 3, 2),
    ]  # fmt: skip


def test_plan_defaults_to_days_for_the_parameterized_pipeline_and_months_otherwise():
    assert make_plan("api_to_gcs_parameterized", "2021-01", "2021-01", None).dates[-1] == date(
        2021, 1, 31
    )
    plan = make_plan("green_taxi_etl", "2020-10", "2020-12", None)
    assert (plan.interval, len(plan.dates)) == ("month", 3)


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("", "2020-10", "2020-12"), "Name the pipeline"),
        (("nope", "2020-10", "2020-12"), "There is no pipeline 'nope' in mage_project"),
        (("green_taxi_etl", "2020-13", "2020-12"), "--start '2020-13' is not a date"),
        (("green_taxi_etl", "2020-12", "2020-10"), "--end 2020-10 is before --start 2020-12"),
        (("green_taxi_etl", "2020-10", ""), "Give both START and END"),
        (("api_to_gcs_parameterized", "2020-01-01", "2021-12-31"), "backfill at most 400"),
    ],
)
def test_bad_backfill_arguments_are_refused_before_any_run(args, sentence):
    with pytest.raises(BackfillError, match=sentence.replace("(", r"\(")):
        make_plan(*args, None)


def test_backfill_cli_refuses_bad_arguments_with_exit_2(tmp_path):
    result = script("backfill", "--pipeline", "green_taxi_etl", "--start", "2021-02",
                    "--end", "2021-01", state_dir=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert "is before --start" in result.stdout
    assert not list(tmp_path.iterdir()), "nothing was started"


@pytest.mark.twin
def test_backfill_runs_one_month_each_on_the_running_twin(twin):
    result = script("backfill", "--pipeline", "api_to_postgres", "--start", "2021-03",
                    "--end", "2021-04", state_dir=twin.state_dir)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Using the twin already running" in result.stdout
    assert "All 2 run(s) succeeded." in result.stdout
    env = twin.env
    with psycopg.connect(
        host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"], dbname="taxi",
    ) as conn:  # fmt: skip
        months = dict(
            conn.execute(
                "SELECT source_month, count(*) FROM ny_taxi.yellow_cab_data "
                "WHERE source_month IN ('2021-03', '2021-04') GROUP BY 1"
            ).fetchall()
        )
        # Each run read the sample month generated for it, and only its own pickups' file.
        assert set(months) == {"2021-03", "2021-04"} and all(n > 1000 for n in months.values())
        conn.execute("DROP TABLE ny_taxi.yellow_cab_data__2021_03")
        conn.execute("DROP TABLE ny_taxi.yellow_cab_data__2021_04")
    assert (Path(twin.data_dir) / "yellow" / "yellow_tripdata_2021-04.csv.gz").exists()
    assert twin.failed_service() is None, "the running twin was left running"


@pytest.mark.twin
def test_demo_runs_a_pipeline_and_prints_what_landed(twin):
    result = script("demo", "--pipeline", "api_to_postgres", state_dir=twin.state_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok     api_to_postgres" in result.stdout
    table = result.stdout.split("What landed", 1)[1]
    for sink in ("ny_taxi.yellow_cab_data", "mage.green_taxi", "nyc_taxi_data_partitioned"):
        assert sink in table
    assert "2021-01: " in table

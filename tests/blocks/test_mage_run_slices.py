"""The slice a block takes inside real Mage pipeline runs (issue 20), end to end through Mage
0.9.80's own models on a throwaway SQLite metadata DB: the kwargs are what
``PipelineRun.get_variables`` builds (global variables + the trigger's + the run's + Mage's
``execution_date``), and :func:`slices.find_mage_run` reads the run back from the DB.

The pipelines' global variables carry a notebook override (yellow 2020-03, green 2020-11, day
2021-01-09), as a student sets them in the Variables panel: a daily trigger's and a backfill's
runs still take their execution date's month (day), a Run@once without variables of its own the
default slice, and a trigger that sets variables its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mage_project.utils.image_contract import REPO_ROOT as ROOT

OVERRIDE = {
    "api_to_postgres": {"year": "2020", "month": "3"},
    "green_taxi_etl": {"months": "2020-11"},
    "api_to_gcs_parameterized": {"execution_date": "2021-01-09"},
}

SCRIPT = r"""
import json, sys
from datetime import datetime, timezone
project = sys.argv[1]
from mage_ai.settings.repo import set_repo_path
set_repo_path(project)
from mage_ai.orchestration.db import db_connection
from mage_ai.orchestration.db.database_manager import database_manager
db_connection.start_session()
database_manager.run_migrations()
from mage_ai.orchestration.db.models.schedules import Backfill, PipelineRun, PipelineSchedule
from mage_project.utils import slices
from mage_ai.data_preparation.variable_manager import get_global_variables

def slice_of(pipeline, kwargs):
    kwargs = {**kwargs, "pipeline_uuid": pipeline}
    if pipeline == "green_taxi_etl":
        return ",".join(m.name for m in slices.green_months_from_kwargs(kwargs))
    if pipeline == "api_to_gcs_parameterized":
        return slices.day_from_kwargs(kwargs).isoformat()
    return slices.month_slice_from_kwargs(kwargs).name

run_date = datetime(2021, 1, 17, 5, 0, tzinfo=timezone.utc)
found = {}
for pipeline in ("api_to_postgres", "green_taxi_etl", "api_to_gcs_parameterized"):
    kinds = {
        "daily": dict(schedule_type="time", schedule_interval="@daily", variables={}),
        "once": dict(schedule_type="time", schedule_interval="@once", variables={}),
        "own": dict(schedule_type="time", schedule_interval="@daily",
                    variables={"api_to_postgres": {"month": "1", "year": "2021"},
                               "green_taxi_etl": {"months": "2020-12"},
                               "api_to_gcs_parameterized": {"execution_date": "2021-01-03"}}[pipeline]),
    }
    for kind, spec in kinds.items():
        schedule = PipelineSchedule.create(name=f"{pipeline}-{kind}", pipeline_uuid=pipeline,
                                           start_time=run_date, **spec)
        run = PipelineRun.create(pipeline_schedule_id=schedule.id, pipeline_uuid=pipeline,
                                 execution_date=run_date, variables={})
        found[f"{pipeline} {kind}"] = slice_of(pipeline, run.get_variables())
    schedule = PipelineSchedule.create(name=f"Backfill {pipeline}", pipeline_uuid=pipeline,
                                       schedule_interval="@once", start_time=run_date)
    backfill = Backfill.create(name=f"b-{pipeline}", pipeline_uuid=pipeline,
                               pipeline_schedule_id=schedule.id)
    run = PipelineRun.create(backfill_id=backfill.id, pipeline_schedule_id=schedule.id,
                             pipeline_uuid=pipeline, execution_date=run_date,
                             variables={"execution_date": run_date.isoformat(), "ds": "2021-01-17"})
    found[f"{pipeline} backfill"] = slice_of(pipeline, run.get_variables())
    notebook = {**get_global_variables(pipeline), "env": "dev"}  # as websocket_server.py builds it
    if "execution_date" not in notebook:
        now = datetime.now()
        notebook.update(execution_date=now, interval_start_datetime=now, interval_seconds=None)
    found[f"{pipeline} notebook"] = slice_of(pipeline, notebook)
print("SLICES " + json.dumps(found))
"""


@pytest.fixture(scope="module")
def slices_in_mage_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("mage_runs")
    project = base / "mage_project"
    shutil.copytree(
        ROOT / "mage_project", project, ignore=shutil.ignore_patterns("mage_data", ".variables")
    )
    for pipeline, override in OVERRIDE.items():
        path = project / "pipelines" / pipeline / "metadata.yaml"
        metadata = yaml.safe_load(path.read_text())
        metadata["variables"].update(override)
        path.write_text(yaml.safe_dump(metadata))
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(base),
           "MAGE_DATABASE_CONNECTION_URL": f"sqlite:///{base / 'mage.db'}", "MAGE_DATA_DIR": str(base / "data"),
           "PYTHONWARNINGS": "ignore"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(project)], cwd=base, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("SLICES ")]
    assert done.returncode == 0 and lines, (done.stdout + done.stderr)[-4000:]
    return json.loads(lines[-1].removeprefix("SLICES "))


def test_a_notebook_override_never_leaks_into_scheduled_or_backfill_runs(slices_in_mage_runs):
    assert slices_in_mage_runs["api_to_postgres daily"] == "2021-01"
    assert slices_in_mage_runs["api_to_postgres backfill"] == "2021-01"
    assert slices_in_mage_runs["green_taxi_etl daily"] == "2021-01"
    assert slices_in_mage_runs["green_taxi_etl backfill"] == "2021-01"
    assert slices_in_mage_runs["api_to_gcs_parameterized daily"] == "2021-01-17"
    assert slices_in_mage_runs["api_to_gcs_parameterized backfill"] == "2021-01-17"


def test_run_once_without_variables_of_its_own_runs_the_default_slice(slices_in_mage_runs):
    assert slices_in_mage_runs["api_to_postgres once"] == "2021-01"
    assert slices_in_mage_runs["green_taxi_etl once"] == "2020-10,2020-11,2020-12"
    assert slices_in_mage_runs["api_to_gcs_parameterized once"] == "2021-01-01"


def test_a_triggers_own_variables_choose_its_slice(slices_in_mage_runs):
    assert slices_in_mage_runs["api_to_postgres own"] == "2021-01"
    assert slices_in_mage_runs["green_taxi_etl own"] == "2020-12"
    assert slices_in_mage_runs["api_to_gcs_parameterized own"] == "2021-01-03"


def test_the_notebook_takes_the_override(slices_in_mage_runs):
    """Without a pipeline run (the notebook, a plain `mage run`) the global variables count."""
    assert slices_in_mage_runs["api_to_postgres notebook"] == "2020-03"
    assert slices_in_mage_runs["green_taxi_etl notebook"] == "2020-11"
    assert slices_in_mage_runs["api_to_gcs_parameterized notebook"] == "2021-01-09"

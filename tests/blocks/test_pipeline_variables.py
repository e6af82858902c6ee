"""Each pipeline declares its runtime variables in its metadata.yaml, where Mage's "Run with
variables" panel reads them; the declared values agree with the code in
mage_project/utils/slices.py and never override a trigger's or backfill's execution date.

Mage 0.9.80 merges a pipeline's ``variables`` into the keyword arguments of every run it
starts (``mage run``: cli/main.py; triggers and backfills: ``PipelineRun.get_variables``), so a
declared ``year: 2021`` would pin every backfill run to 2021-01. Hence: ``color`` and the
parameterized day carry the code's defaults; ``year``/``month``/``months`` are declared empty
(empty = not given: the execution date's month, else the code's default, named in the
pipeline's description).
"""

from __future__ import annotations

from datetime import datetime

import pytest
import yaml

from mage_project.utils import slices
from mage_project.utils.image_contract import REPO_ROOT

PIPELINES = REPO_ROOT / "mage_project" / "pipelines"
MONTHLY = ("api_to_postgres", "api_to_gcs", "gcs_to_bigquery")


def metadata(pipeline: str) -> dict:
    return yaml.safe_load((PIPELINES / pipeline / "metadata.yaml").read_text())


def what_runs(pipeline: str, kwargs: dict) -> str:
    """The slice the pipeline's loader takes from these kwargs (the code's one definition)."""
    if pipeline in MONTHLY:
        return slices.month_slice_from_kwargs(kwargs).name
    if pipeline == "api_to_gcs_parameterized":
        return slices.day_from_kwargs(kwargs).isoformat()
    return ",".join(m.name for m in slices.green_months_from_kwargs(kwargs))


#: The variables each pipeline's loader reads (besides Mage's own execution_date in triggers).
READS = {
    **dict.fromkeys(MONTHLY, {"color", "year", "month"}),
    "api_to_gcs_parameterized": {"color", "execution_date"},
    "green_taxi_etl": {"color", "months"},
}


def test_every_pipeline_is_covered():
    assert set(READS) == {p.name for p in PIPELINES.iterdir() if (p / "metadata.yaml").exists()}


@pytest.mark.parametrize("pipeline", sorted(READS))
def test_declared_variables_are_the_ones_the_code_reads(pipeline):
    declared = metadata(pipeline).get("variables") or {}
    assert set(declared) == READS[pipeline], f"{pipeline} declares {sorted(declared)}"


@pytest.mark.parametrize("pipeline", sorted(READS))
def test_a_bare_run_with_the_declared_values_runs_the_codes_default(pipeline):
    meta = metadata(pipeline)
    default = what_runs(pipeline, {})
    assert what_runs(pipeline, dict(meta["variables"])) == default
    default_color = (
        slices.green_months_from_kwargs({})[0].color
        if pipeline == "green_taxi_etl"
        else slices.month_slice_from_kwargs({}).color
    )
    assert meta["variables"]["color"] == default_color
    assert default in meta["description"], f"{pipeline}'s description must name {default}"


@pytest.mark.parametrize("pipeline", sorted(READS))
def test_declared_values_leave_a_triggers_execution_date_in_charge(pipeline):
    """As Mage builds a trigger or backfill run's kwargs: declared variables + execution_date."""
    run_date = datetime(2020, 5, 17, 5, 0)
    kwargs = {**metadata(pipeline)["variables"], "execution_date": run_date}
    expected = "2020-05-17" if pipeline == "api_to_gcs_parameterized" else "2020-05"
    assert what_runs(pipeline, kwargs) == expected


@pytest.mark.parametrize(
    ("pipeline", "given", "expected"),
    [
        ("api_to_postgres", {"month": 3}, "2021-03"),
        ("api_to_gcs", {"year": 2020}, "2020-01"),
        ("gcs_to_bigquery", {"year": "2020", "month": "12"}, "2020-12"),
        ("api_to_gcs_parameterized", {"execution_date": "2021-01-09"}, "2021-01-09"),
        ("green_taxi_etl", {"months": "2020-11"}, "2020-11"),
    ],
)
def test_a_value_given_over_the_declared_ones_is_used(pipeline, given, expected):
    """As `mage run --runtime-vars` and the panel merge them: declared, then given."""
    assert what_runs(pipeline, {**metadata(pipeline)["variables"], **given}) == expected


def test_trigger_variables_are_declared_variables():
    for triggers in PIPELINES.glob("*/triggers.yaml"):
        for trigger in yaml.safe_load(triggers.read_text())["triggers"]:
            declared = set(metadata(trigger["pipeline_uuid"])["variables"])
            assert set(trigger.get("variables") or {}) <= declared, trigger["name"]
